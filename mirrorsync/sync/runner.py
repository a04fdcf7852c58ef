"""A sync run: manifest -> plan -> engine -> report -> mirror sets. The library behind ``mirrorsync run``."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, Iterable, Iterator

from ..errors import InputError, MirrorsyncError
from ..registry import auth
from ..registry.tls import ssl_context_for
from ..registry.proxies import ProxySettings
from ..registry import retry
from ..registry.retry import RETRIES, RetryPolicy
from . import pacing
from . import plan as plan_mod
from .carryover import reconcile
from .copy import CopyResult
from .engines import Clients, Engine, NativeEngine
from .manifest import SyncManifest
from .plan import CopyJob, Plan
from .report import DestinationRecord, ImageRecord, Report, load as load_report, mirrored_sources

if TYPE_CHECKING:
    from ..openshift.mirrorsets import MirrorSetFile

log = logging.getLogger(__name__)

REPORT_FILE = "report.json"
LOCK_FILE = ".mirrorsync.lock"


@dataclass
class RunOptions:
    engine: str | None = None  # None: the manifest's choice
    concurrency: int | None = None
    blob_concurrency: int | None = None
    retries: int | None = None
    timeout: float | None = None
    auth_file: str | None = None
    shard: plan_mod.Shard | None = None  # copy only this shard's source repositories
    # the report of the previous run into the same output directory: what the mirrors may still hold
    previous_report: str | Path | None = None


@dataclass
class Event:
    kind: str  # "planned" | "start" | "done"
    job: CopyJob | None = None
    record: ImageRecord | None = None
    total: int = 0


@dataclass
class Runner:
    manifest: SyncManifest
    options: RunOptions = field(default_factory=RunOptions)
    on_event: Callable[[Event], None] = lambda e: None
    stop: threading.Event = field(default_factory=threading.Event)
    # set after ``stop`` (a second Ctrl-C): images in flight are reported failed and not waited for
    abandon: threading.Event = field(default_factory=threading.Event)
    _listener_failed: bool = field(default=False, init=False, repr=False)
    catalogs_by_tag: ClassVar[bool] = False  # plan catalogs' images by tag (an export), not by digest
    # whether the platform section's local graph file and signature store are read (an import takes the releases
    # and their signatures from its export's report: those files are on the other side of the gap)
    reads_platform_files: ClassVar[bool] = True

    def _value(self, name: str):
        v = getattr(self.options, name)
        return v if v is not None else getattr(self.manifest.options, name)

    def clients(self) -> Clients:
        return Clients(self.manifest, auth_file=self.options.auth_file,
                       policy=RetryPolicy.from_retries(self._value("retries")), timeout=self._value("timeout"),
                       max_connections=max(8, 2 * (pacing.most_workers(self._value("concurrency"))
                                                   + self._value("blob_concurrency"))))

    def make_engine(self, clients: Clients) -> Engine:
        name = self._value("engine")
        if name == "native":
            return NativeEngine(clients, blob_concurrency=self._value("blob_concurrency"))
        if name == "skopeo":
            self.refuse_for_skopeo()
            from .skopeo import SkopeoEngine  # noqa: PLC0415 - only loaded when chosen
            return SkopeoEngine(clients, retries=self._value("retries"), timeout=self._value("timeout"),
                                processes=self._value("concurrency"))
        raise InputError(f"unknown engine {name!r}", field="engine")

    def refuse_for_skopeo(self) -> None:
        """What the skopeo engine cannot do is bad input at its manifest line, before anything is copied: skopeo
        copies a whole index or one platform of it (``--multi-arch``), never a list of platforms, and carries
        neither cosign tags nor OCI referrers without per-registry configuration mirrorsync does not write."""
        why = {"platforms": "skopeo copies a whole index or one platform of it, not a list of platforms",
               "signatures": "skopeo does not copy cosign's signature tags with an image",
               "referrers": "skopeo does not copy OCI referrers"}
        doc = self.manifest.source_doc
        for spec in self.manifest.images:
            for key, used in (("platforms", bool(spec.platforms)), ("signatures", spec.signatures),
                              ("referrers", spec.referrers)):
                if used:
                    path = ("images", spec.index, key)
                    if doc is not None and path not in doc.lines:
                        path = ("defaults", key)
                    raise self.manifest.error(path, f"{key} need engine native ({why[key]}); drop --engine skopeo "
                                                    "or options.engine: skopeo")

    def plan(self, clients: Clients) -> Plan:
        the_plan = plan_mod.build(self.manifest, clients.list_tags, shard=self.options.shard,
                                  workers=self._value("concurrency"))
        if self.manifest.platform is not None:
            from ..openshift.releases.planning import add_from_registries  # noqa: PLC0415 - only with releases

            add_from_registries(the_plan, self.manifest, clients, shard=self.options.shard,
                                previous=self._previous)
        return self.add_catalogs(the_plan, clients, by_tag=self.catalogs_by_tag)

    def catalog_store(self, clients: Clients):
        """Where catalogs are read from: ``ref -> (store, repository)``."""
        return lambda ref: (clients.get(ref.registry), ref.repository)

    def add_catalogs(self, the_plan: Plan, clients: Clients, *, by_tag: bool = False) -> Plan:
        """The operator catalogs' jobs (bundles, related images, the catalog itself) added to ``the_plan``."""
        # a sharded sync reads and rebuilds each catalog once, in shard 0
        if self.manifest.operators and (self.options.shard is None or self.options.shard.index == 0):
            from ..openshift.catalogs.planning import add_to_plan

            add_to_plan(the_plan, self.manifest, self.catalog_store(clients), by_tag=by_tag)
        return the_plan

    def finish_catalogs(self, the_plan: Plan, report: Report, clients: Clients) -> None:
        """After the copies: the filtered catalogs rebuilt and pushed to the mirrors, into ``report.catalogs``."""
        from ..openshift.catalogs.planning import finish, keep_previous

        report.catalogs = finish(the_plan.catalogs, report, self.catalog_store(clients), clients.get,
                                 interrupted=self.stop.is_set())
        keep_previous(report, self._previous, self.manifest)

    def check_credentials(self) -> None:
        """Read every auth file the run will use, now: a broken or missing one is bad input (``InputError``,
        exit 2) before anything is copied, not a failure of each image."""
        if self.manifest.platform is not None and self.reads_platform_files:
            from ..openshift.releases.spec import check_paths  # noqa: PLC0415

            check_paths(self.manifest)
        hosts = self.manifest.source_hosts() | {m.registry for m in self.manifest.mirrors}
        for host in sorted(hosts - self.other_side()):
            auth.lookup(host, auth_file=self.manifest.settings_for(host).auth_file or self.options.auth_file)
        self.check_cert_dirs()
        ProxySettings.from_environ()  # and a proxy variable that cannot be used (it may carry credentials too)

    def other_side(self) -> set[str]:
        """Hosts the manifest names that this run never reaches (across an air gap): their auth files and
        certificate directories need not exist here."""
        return set()

    def check_cert_dirs(self) -> None:
        """Read every ``certDir`` the manifest names, now: one that is missing or holds a file that cannot be read
        or used is bad input at its manifest line, not a TLS failure of every image that goes through it."""
        skip = self.other_side()
        for host, settings in sorted(self.manifest.registries.items()):
            if settings.cert_dir is None or host in skip:
                continue
            try:
                if os.path.isdir(settings.cert_dir):
                    for f in Path(settings.cert_dir).iterdir():
                        if f.suffix in (".crt", ".cert", ".key"):
                            f.open("rb").close()  # names the file: the TLS loader's errors do not
                ssl_context_for(host, settings)
            except InputError as exc:
                raise self.manifest.error(("registries", host, "certDir"), exc.message) from None
            except OSError as exc:  # a file listed there that cannot be opened (permissions, dangling link)
                raise self.manifest.error(("registries", host, "certDir"),
                                          f"cannot read {exc.filename or settings.cert_dir}: "
                                          f"{exc.strerror or exc}") from None

    def run(self) -> Report:
        """Copy everything the manifest selects; never raises for a failed image (it is in the report).

        Raises ``InputError`` for an auth file that cannot be used, before anything is copied.
        """
        self.check_credentials()
        clients = self.clients()
        engine = self.make_engine(clients)
        RETRIES.total = 0
        retry.THROTTLED.clear()
        report = Report(manifest=self.manifest.file, engine=engine.name,
                        mirrors=[m.location for m in self.manifest.mirrors], startedAt=_now())
        try:
            the_plan = self.plan(clients)
            for failure in the_plan.failures:
                report.images.append(_failed_record(failure.spec, None, failure.error, self.manifest))
            self._notify(Event("planned", total=len(the_plan.jobs)))
            report.images.extend(self._execute(engine, the_plan.jobs, self._image_workers(engine, the_plan.jobs)))
            if the_plan.releases is not None:
                from ..openshift.releases.planning import records  # noqa: PLC0415

                report.releases = records(the_plan.releases, report.images)
            if the_plan.catalogs:
                self.finish_catalogs(the_plan, report, clients)
            reconcile(report, self._previous, self.manifest, the_plan.failures,
                      _not_asked if self.abandon.is_set() else clients.get, workers=self._value("concurrency"))
        finally:
            if self.abandon.is_set():
                # Closing waits for transfers in flight; give it a moment (skopeo processes get killed), no more.
                closer = threading.Thread(target=_close_all, args=(engine, clients), daemon=True)
                closer.start()
                closer.join(2.0)
            else:
                _close_all(engine, clients)
        report.retries = RETRIES.total
        report.finishedAt = _now()
        report.status = _overall(report, interrupted=self.stop.is_set())
        return report

    def _notify(self, event: Event) -> None:
        """Tell ``on_event``; a listener that fails (progress on a broken stderr) must not cost a worker or an
        image, so it is logged once and ignored."""
        try:
            self.on_event(event)
        except Exception as exc:  # noqa: BLE001 - whatever the listener does wrong, the copies go on
            if not self._listener_failed:
                self._listener_failed = True
                log.warning("progress listener failed (%s: %s); ignored", type(exc).__name__, exc)

    @functools.cached_property
    def _previous(self) -> Report | None:
        """The previous report in the output directory, read once: the releases' planning, the catalogs and the
        carry-over all use it."""
        path = self.options.previous_report
        if path is None or not os.path.exists(path):
            return None
        try:
            return load_report(str(path))
        except (MirrorsyncError, OSError) as exc:
            # Only costs what a failure this run would have kept; the run itself is not at fault.
            log.warning("cannot read the previous report (%s): no mirror entries are kept from it", exc)
            return None
        self._previous_read = True
        path = self.options.previous_report
        if path is None or not os.path.exists(path):
            return None
        try:
            self._previous_report = load_report(str(path))
        except (MirrorsyncError, OSError) as exc:
            # Only costs what a failure this run would have kept; the run itself is not at fault.
            log.warning("cannot read the previous report (%s): no mirror entries are kept from it", exc)
        return self._previous_report

    def _image_workers(self, engine: Engine, jobs: list[CopyJob]) -> int:
        """The run's concurrency, or more where the native engine reads from far-away registries (``pacing``)."""
        concurrency = self._value("concurrency")
        sources = engine.source_registries(jobs) if isinstance(engine, NativeEngine) else []
        if len(jobs) <= pacing.most_workers(concurrency) or not sources:
            return concurrency  # a handful of images gains less than measuring takes
        # Measured on clients of their own that never retry: a ping that fails says nothing worth waiting for,
        # and the report's retries are the copies' own.
        probe = Clients(self.manifest, auth_file=self.options.auth_file, policy=RetryPolicy(attempts=1),
                        timeout=self._value("timeout"), max_connections=1)
        try:
            round_trip = pacing.round_trip(sources, lambda host: probe.get(host).ping())
        finally:
            probe.close()
        workers = pacing.workers_for(concurrency, round_trip)
        if workers > concurrency:
            log.info("source round trip %.0f ms: %d images in flight instead of %d", round_trip * 1000, workers,
                     concurrency)
        return workers

    def _execute(self, engine: Engine, jobs: list[CopyJob], workers: int | None = None) -> list[ImageRecord]:
        """Copy the jobs, ``concurrency`` at a time; each worker takes the next job itself as soon as it is free.

        The main thread only waits (and stays responsive to signals): with thousands of quick jobs, as in a no-op
        re-sync, handing each job over through it would leave workers idle while it is descheduled.
        """
        records: list[ImageRecord] = []
        queue = deque(jobs)
        in_flight: dict[int, CopyJob] = {}
        lock = threading.Lock()
        concurrency = self._value("concurrency")
        workers_left = min(workers or concurrency, len(jobs))
        all_done = threading.Event()

        def next_job(worker: int) -> CopyJob | None:
            with lock:
                if not queue or self.stop.is_set() or not pacing.may_continue(worker, concurrency):
                    return None
                job = queue.popleft()
                in_flight[id(job)] = job
                return job

        def work(worker: int) -> None:
            nonlocal workers_left
            try:
                while (job := next_job(worker)) is not None:
                    self._notify(Event("start", job=job))
                    try:
                        result = engine.copy(job)
                    except Exception as exc:  # noqa: BLE001 - an engine bug must not lose the other images
                        result = CopyResult(error=f"{type(exc).__name__}: {exc}")
                    record = to_record(job, result)
                    with lock:
                        if self.abandon.is_set():
                            return  # the main thread has reported it as abandoned
                        del in_flight[id(job)]
                        records.append(record)
                    self._notify(Event("done", job=job, record=record))
            finally:
                with lock:
                    workers_left -= 1
                    if workers_left == 0:
                        all_done.set()

        if not jobs:
            return records
        for i in range(workers_left):
            threading.Thread(target=work, args=(i,), name=f"image-{i}", daemon=True).start()
        while not all_done.wait(0.5):
            if self.abandon.is_set():
                break
        with lock:
            if self.abandon.is_set():
                for job in in_flight.values():
                    records.append(_failed_record(job.spec, job, "interrupted: abandoned while in flight",
                                                  self.manifest))
                in_flight.clear()
            for job in queue:
                records.append(_failed_record(job.spec, job, "interrupted before it started", self.manifest,
                                              status="skipped"))
            queue.clear()
            return list(records)


def _not_asked(host: str):
    """The mirrors' stores after a second signal: none is asked whether it still holds what an earlier run put
    there (the user said not to wait), so carry-over keeps those entries unconfirmed."""
    raise MirrorsyncError(f"{host} not asked: the run was abandoned by a second signal")


def _close_all(engine: Engine, clients: Clients) -> None:
    engine.close()
    clients.close()


def to_record(job: CopyJob, result: CopyResult) -> ImageRecord:
    """An engine's ``CopyResult`` for one job as a report record."""
    dests = []
    for d, tr in zip(job.destinations, result.targets or [None] * len(job.destinations)):
        if tr is None:
            dests.append(DestinationRecord(d.mirror.location, d.name, "failed", error=result.error))
            continue
        dests.append(DestinationRecord(
            mirror=d.mirror.location, repository=d.name, status=tr.status if tr.status != "pending" else "failed",
            bytesSent=tr.bytes_sent, bytesSkipped=tr.bytes_skipped, blobsSent=tr.blobs_sent,
            blobsSkipped=tr.blobs_skipped, blobsMounted=tr.blobs_mounted, manifestsPushed=tr.manifests_pushed,
            error=tr.error))
    ok = [d for d in dests if d.ok]
    if ok and len(ok) == len(dests):
        status = "copied" if any(d.status == "copied" for d in dests) else "up-to-date"
    elif ok:
        status = "partial"
    else:
        status = "failed"
    errors = [d.error for d in dests if d.error]
    spec = job.spec
    return ImageRecord(source=job.source.name, tag=job.tag, digest=result.digest or job.digest, status=status,
                       mediaType=result.media_type, children=list(result.children),
                       mirrorSets=spec.fed_mirror_sets, mirrorSourcePolicy=spec.mirror_source_policy,
                       scope=spec.scope, destinations=dests, bytesRead=result.bytes_read, retries=result.retries,
                       error=result.error or (errors[0] if errors else None), platforms=result.platforms,
                       missingPlatforms=list(result.missing_platforms) if spec.platforms else None,
                       rewrittenDigest=result.rewritten_digest,
                       companions=list(result.companions) if spec.signatures or spec.referrers else None,
                       mirrorTag=job.target_tag)


def _failed_record(spec, job: CopyJob | None, error: str, manifest: SyncManifest, status: str = "failed") -> ImageRecord:
    dests = [DestinationRecord(m.location, f"{m.registry}/{m.repository(spec.destination)}", status, error=error)
             for m in manifest.mirrors]
    return ImageRecord(source=spec.source.name, tag=job.tag if job else None, digest=job.digest if job else None,
                       status=status, mirrorSets=spec.fed_mirror_sets, mirrorSourcePolicy=spec.mirror_source_policy,
                       scope=spec.scope, destinations=dests, error=error,
                       mirrorTag=job.target_tag if job else None)


def _overall(report: Report, *, interrupted: bool) -> str:
    if interrupted:
        return "Interrupted"
    if not report.failed and not report.failed_releases:
        return "Succeeded"
    if len(report.failed) == len(report.images):
        return "Failed"
    return "PartiallyFailed"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def run(manifest: SyncManifest | str | os.PathLike[str], options: RunOptions | None = None) -> Report:
    """Copy what the manifest (a loaded one, or its path) selects to its mirrors; the report says what happened.

    Raises ``InputError`` for bad input (manifest, auth file, certDir) before anything is copied; a failed
    image does not raise, it is in the report (``status``). Writes nothing: see :meth:`Report.save` and
    :func:`write_mirror_sets`.
    """
    if not isinstance(manifest, SyncManifest):
        from .manifest import load

        manifest = load(os.fspath(manifest))
    return Runner(manifest, options or RunOptions()).run()


def render_crs(reports: Iterable[Report], *, icsp: bool = False, name: str = "mirrorsync") -> list[MirrorSetFile]:
    """The IDMS/ITMS (and with ``icsp`` ICSP) files, as ``mirrorsync run`` writes them, for what the reports say
    reached the mirrors (shards of one sync merge)."""
    from ..openshift.mirrorsets import build_mirror_sets

    return build_mirror_sets(mirrored_sources(list(reports)), name=name, icsp=icsp)


def write_mirror_sets(reports: list[Report], output_dir: str | Path, *, icsp: bool = False,
                      name: str = "mirrorsync", notify: Callable[[str], None] = log.warning) -> list[Path]:
    """Write the CR files for what the reports say reached the mirrors into the output directory's
    cluster-resources/ (see :mod:`cluster_resources`); remove ours that no longer apply."""
    from ..openshift import cluster_resources
    from ..openshift.catalogs import resources as catalog_resources
    from ..openshift.releases import outputs

    catalogs = [c for r in reports for c in r.catalogs]
    files = (render_crs(reports, icsp=icsp, name=name) + outputs.cluster_files(reports)
             + catalog_resources.render(catalogs))
    return cluster_resources.write(output_dir, files, notify=notify) + outputs.write_beside(reports, output_dir)


@contextlib.contextmanager
def output_lock(output_dir: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on the output directory so two scheduled runs never interleave their files."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MirrorsyncError(f"another mirrorsync run is using {out} (lock {out / LOCK_FILE}); "
                                  "wait for it to finish") from None
        yield
    finally:
        os.close(fd)
