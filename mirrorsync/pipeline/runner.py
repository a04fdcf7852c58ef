"""A sync run: manifest -> plan (every section) -> engine -> report. The library behind ``mirrorsync run``,
``export`` and ``import``: the air-gap runs are this run with another route (:class:`Route`)."""

from __future__ import annotations

import functools
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import InputError, MirrorsyncError, PreflightError
from ..registry import auth
from ..registry.proxies import ProxySettings
from ..registry.retry import RetryPolicy
from ..registry.tls import ssl_context_for
from ..openshift import cluster_image_policies
from ..trust import policy as trust_policy, registries_d as trust_registries_d
from ..sync import pacing, preflight
from ..sync.host_breaker import api_host
from ..sync import plan as plan_mod
from ..sync.carryover import reconcile
from ..sync.copy import Target
from ..sync.engines import Clients, Engine, NativeEngine, registry_source
from ..sync.signature_gate import SignatureChecker, SignatureGate, url_reader
from ..sync.job_runner import Event, JobRunner, failed_record, not_asked, now, overall_status
from ..sync.manifest import SyncManifest
from ..sync.plan import CopyJob, Plan
from ..sync.record_journal import RecordJournal
from ..sync.report import Report, load as load_report
from ..sync.status import Status
from ..sync.section import FinishContext
from ..sync.through_mirrors import SourceThroughMirrors
from . import planning, source_mirrors
from .plan_checks import unselected
from .route import Route

log = logging.getLogger(__name__)


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
    # where each image's record is written as it finishes (mirrorsync.sync.record_journal); None: nowhere
    records_file: str | Path | None = None
    # every mirror's depth limit (--max-nested-paths) where the manifest is loaded for the run (an import)
    max_nested_paths: int | None = None
    # a containers-policy.json(5) to check every image against before it is copied; None: the manifest's
    # options.signaturePolicy, if any
    signature_policy: str | None = None


@dataclass
class Runner:
    manifest: SyncManifest
    options: RunOptions = field(default_factory=RunOptions)
    on_event: Callable[[Event], None] = lambda e: None
    stop: threading.Event = field(default_factory=threading.Event)
    # set after ``stop`` (a second Ctrl-C): images in flight are reported failed and not waited for
    abandon: threading.Event = field(default_factory=threading.Event)
    route: Route = field(default_factory=Route)

    def _value(self, name: str):
        v = getattr(self.options, name)
        return v if v is not None else getattr(self.manifest.options, name)

    def clients(self) -> Clients:
        o = self.options
        return Clients.for_run(self.manifest, auth_file=o.auth_file, retries=o.retries, timeout=o.timeout,
                               concurrency=o.concurrency, blob_concurrency=o.blob_concurrency)

    def make_engine(self, clients: Clients) -> Engine:
        """The run's engine; with a signature policy, behind the gate that checks each image before it is copied."""
        engine = self._copy_engine(clients)
        checker = self.signature_checker(clients, getattr(engine, "source_for", None))
        return engine if checker is None else SignatureGate(engine, checker)

    def signature_checker(self, clients: Clients, source_for=None) -> SignatureChecker | None:
        """What decides on each job with the run's signature policy (None: the run has none); jobs are read where
        ``source_for`` says, by default from their registries."""
        policy = self.signature_policy
        if policy is None:
            return None
        previous = self._previous
        remembered = {(i.source, i.tag or i.digest): i.signature for i in (previous.images if previous else [])
                      if i.signature and (i.tag or i.digest)}
        return SignatureChecker(policy, source_for or registry_source(clients, self._through_mirrors),
                                registries=self.registries_d, read_url=url_reader(clients.web),
                                remembered=remembered)

    @functools.cached_property
    def cluster_image_policies(self) -> list[dict]:
        """With ``options.clusterImagePolicy``: the ClusterImagePolicy objects of the signature policy, made now
        (what the CRD cannot say is bad input before anything is copied)."""
        if not self.manifest.options.cluster_image_policy:
            return []
        if self.signature_policy is None:
            raise self.manifest.error(("options", "clusterImagePolicy"), "needs a signature policy: give "
                                      "options.signaturePolicy or --signature-policy")
        return cluster_image_policies.objects(self.signature_policy)

    @functools.cached_property
    def registries_d(self) -> trust_registries_d.RegistriesD | None:
        """``options.registriesD``, read once (with a policy only: it says where the policy's signatures are)."""
        path = self.manifest.options.registries_d
        if path is None or self.signature_policy is None:
            return None
        if not os.path.isdir(path):
            raise self.manifest.error(("options", "registriesD"), f"{path}: no such directory")
        return trust_registries_d.load(path)

    @functools.cached_property
    def signature_policy(self) -> trust_policy.Policy | None:
        """The policy every image must satisfy (``--signature-policy``, else ``options.signaturePolicy``), read
        once; a file that is missing or wrong is an ``InputError`` naming it, before anything is copied."""
        path = self.options.signature_policy
        if path is None:
            path = self.manifest.options.signature_policy
            if path is None:
                return None
            if not os.path.isfile(path):
                raise self.manifest.error(("options", "signaturePolicy"), f"{path}: no such file")
        return trust_policy.check_file(path)

    def check_signatures(self, jobs: list[CopyJob], clients: Clients, plan: Plan | None = None) -> list[dict]:
        """Each job's ``signature`` record, as a run would decide, without copying (``plan --verify-signatures``);
        ``concurrency`` jobs at a time; ``plan``: the plan they are of (a release's components are refused with
        it). Without a signature policy: ``InputError``."""
        checker = self.signature_checker(clients)
        if checker is None:
            raise InputError("--verify-signatures needs a signature policy: give --signature-policy or "
                             "options.signaturePolicy", field="--verify-signatures")
        if plan is not None:
            checker.add_wholes(self.wholes(plan))
        with ThreadPoolExecutor(max_workers=self._value("concurrency"), thread_name_prefix="verify") as pool:
            return list(pool.map(checker.record, jobs))

    def wholes(self, the_plan: Plan) -> list:
        """Every section's images that vouch for others (:meth:`Section.wholes`)."""
        return [w for section, _ in self.manifest.present_sections() for w in section.wholes(the_plan)]

    def _copy_engine(self, clients: Clients) -> Engine:
        name = self._value("engine")
        route = self.route
        if route.from_layout or route.to_layout:  # the native engine alone reads and writes layouts
            source_for = (lambda job: (route.source, job.source.name)) if route.from_layout else None
            targets_for = self._layout_targets if route.to_layout else None
            return NativeEngine(clients, blob_concurrency=self._value("blob_concurrency"), source_for=source_for,
                                targets_for=targets_for, sources=self._through_mirrors, held=self._held_on_mirrors())
        if name == "native":
            return NativeEngine(clients, blob_concurrency=self._value("blob_concurrency"),
                                sources=self._through_mirrors)
        if name == "skopeo":
            self.refuse_for_skopeo()
            from ..sync.skopeo import SkopeoEngine  # noqa: PLC0415 - only loaded when chosen
            conf = source_mirrors.registries_conf_for_tools(self.manifest)
            for path in source_mirrors.drop_ins_skopeo_adds(conf):
                log.warning("skopeo merges %s over options.sourceMirrors (containers/image reads registries.conf.d "
                            "whatever --registries-conf says): its [[registry]] tables replace those of the same "
                            "prefix", path)
            return SkopeoEngine(clients, retries=self._value("retries"), timeout=self._value("timeout"),
                                processes=self._value("concurrency"), sources=self._through_mirrors,
                                registries_conf=conf)
        raise InputError(f"unknown engine {name!r}", field="engine")

    def _held_on_mirrors(self) -> list[tuple[str, str, str]]:
        """(registry, repository, digest) of what the route says this run's mirrors hold (``Route.held_at``)."""
        hosts = {m.registry for m in self.manifest.mirrors}
        out = []
        for digest, names in self.route.held_at.items():
            for name in names:
                registry, _, repo = name.partition("/")
                if registry in hosts and repo:
                    out.append((registry, repo, digest))
        return out

    def _layout_targets(self, job: CopyJob) -> list[Target]:
        route = self.route
        whole = route.target_whole is not None and (job.source.name, job.ref) in self._read_whole
        return [Target(route.target_whole if whole else route.target, job.source.name,
                       self.manifest.mirrors[0].location)]

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
        for section, spec in self.manifest.present_sections():
            native = section.native_only(spec)
            if native is not None:
                raise self.manifest.error(native[0], f"needs engine native ({native[1]}); drop --engine skopeo or "
                                                     "options.engine: skopeo")

    def plan(self, clients: Clients) -> Plan:
        """Every section's jobs, as this run's route reads and writes them."""
        ctx = planning.context(self.manifest, clients, self.route, shard=self.options.shard,
                               previous=self._previous, workers=self._value("concurrency"), stop=self.stop,
                               through_mirrors=self._through_mirrors)
        the_plan = planning.plan(self.manifest, ctx)
        # (source, ref) of the release and catalog images: the import reads their layers and config to plan the
        # releases and to filter and rebuild the catalogs, so an export carries them whole
        self._read_whole = {key for section, _ in planning.sections_of(self.manifest)
                            for key in section.read_whole(the_plan)}
        return the_plan

    _read_whole: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)
    # the sources read through options.sourceMirrors (made with the run's clients); None: from themselves
    _through_mirrors: SourceThroughMirrors | None = field(default=None, init=False, repr=False)

    def check_credentials(self) -> None:
        """Read every auth file and local file the run will use, now: a broken or missing one is bad input
        (``InputError``, exit 2) before anything is copied, not a failure of each image."""
        for section, spec in self.manifest.present_sections():
            section.check_files(self.manifest, spec, from_layout=self.route.from_layout)
        hosts = self.manifest.source_hosts() | {m.registry for m in self.manifest.mirrors}
        for host, settings in sorted(self.manifest.registries.items()):
            if settings.auth_file is not None and host not in self.route.unreached:
                self._check_auth_file(host, settings.auth_file)
        for host in sorted(hosts - self.route.unreached):
            auth.lookup(host, auth_file=self.manifest.settings_for(host).auth_file or self.options.auth_file)
        self.check_cert_dirs()
        _ = self.signature_policy, self.registries_d, self.cluster_image_policies  # bad input before any copy
        ProxySettings.from_environ()  # and a proxy variable that cannot be used (it may carry credentials too)

    def _check_auth_file(self, host: str, path: str) -> None:
        """A registry's ``authFile`` (relative paths are the manifest's directory's) that is missing or cannot be
        used is bad input at its manifest line."""
        if not os.path.isfile(path):
            raise self.manifest.error(("registries", host, "authFile"),
                                      f"{path}: auth file not found (a relative path is read from the manifest's "
                                      "directory)")
        try:
            auth.lookup(host, auth_file=path)
        except InputError as exc:
            raise self.manifest.error(("registries", host, "authFile"), str(exc)) from None

    def check_cert_dirs(self) -> None:
        """Read every ``certDir`` the manifest names, now: one that is missing or holds a file that cannot be read
        or used is bad input at its manifest line, not a TLS failure of every image that goes through it."""
        for host, settings in sorted(self.manifest.registries.items()):
            if settings.cert_dir is None or host in self.route.unreached:
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

    def preflight(self, clients: Clients) -> None:
        """Ask every mirror and source registry of the run ``GET /v2/`` with the credentials it will get, at once
        (``sync/preflight.py``). A mirror that fails raises ``PreflightError``: nothing is copied and nothing
        written. A source that fails is given up (``clients.breaker``): its images fail with the error, the
        others go on. Sources read through source mirrors are not checked (they may not answer, by design)."""
        route = self.route
        mirrors = [] if route.to_layout else [m for m in self.manifest.mirrors if m.registry not in route.unreached]
        # sources read through source mirrors (options.sourceMirrors) may well not answer themselves, by design
        through_mirrors = self.manifest.options.source_mirrors is not None
        sources = set() if route.from_layout or through_mirrors else self.manifest.source_hosts() - route.unreached
        failed = preflight.check(clients, mirrors, sources, timeout=self._value("timeout"))
        unusable = list(dict.fromkeys(f"mirror {m.location}: {failed[api_host(m.registry)]}" for m in mirrors
                                      if api_host(m.registry) in failed))
        if unusable:
            raise PreflightError("; ".join(unusable) + " (nothing copied; the outputs of earlier runs are kept)")
        for host, error in failed.items():
            log.warning("source %s failed the preflight, its images are not tried: %s", host, error)
            clients.breaker.give_up(host, f"preflight: {error}")

    def run(self) -> Report:
        """Copy everything the manifest selects; never raises for a failed image (it is in the report).

        Raises ``InputError`` for an auth file that cannot be used, and ``PreflightError`` for a mirror that
        does not answer, is not trusted or refuses the credentials, before anything is copied.
        """
        self.check_credentials()
        clients = self.clients()
        if not self.route.from_layout:  # an import reads its layout, whatever the sources' mirrors
            self._through_mirrors = source_mirrors.reader(self.manifest, clients)
        engine = self.make_engine(clients)
        journal = RecordJournal(self.options.records_file) if self.options.records_file else None
        jobs = JobRunner(self.manifest, self._value("concurrency"),
                         journal.listener(self.on_event) if journal else self.on_event, self.stop, self.abandon,
                         throttled=clients.policy.ledger.throttled, breaker=clients.breaker)
        report = Report(manifest=self.manifest.file, engine=engine.name,
                        mirrors=[m.location for m in self.manifest.mirrors], startedAt=now())
        try:
            self.preflight(clients)
            the_plan = self.plan(clients)
            if isinstance(engine, SignatureGate):
                engine.checker.add_wholes(self.wholes(the_plan))
            for warning in unselected(self.manifest, the_plan):
                log.warning("%s", warning)
            for failure in the_plan.failures:
                report.images.append(failed_record(failure.spec, None, failure.error, self.manifest,
                                                   Status.SKIPPED if failure.interrupted else Status.FAILED))
                if journal:
                    journal.write(report.images[-1])
            jobs.notify(Event("planned", total=len(the_plan.jobs)))
            report.images.extend(jobs.execute(engine, the_plan.jobs, self._image_workers(engine, the_plan.jobs)))
            ctx = planning.context(self.manifest, clients, self.route, through_mirrors=self._through_mirrors)
            finish = FinishContext(self.manifest, ctx.source_for, None if self.route.to_layout else clients.get,
                                   previous=self._previous, interrupted=self.stop.is_set())
            for section, spec in self.manifest.present_sections():
                section.finish(spec, finish, the_plan, report)
            if self.cluster_image_policies:
                report.sections[cluster_image_policies.REPORT_KEY] = self.cluster_image_policies
            reconcile(report, self._previous, self.manifest, the_plan.failures,
                      not_asked if self.abandon.is_set() else clients.get, workers=self._value("concurrency"))
        finally:
            if journal:
                journal.close()
            if self.abandon.is_set():
                # Closing waits for transfers in flight; give it a moment (skopeo processes get killed), no more.
                closer = threading.Thread(target=_close_all, args=(engine, clients), daemon=True)
                closer.start()
                closer.join(2.0)
            else:
                _close_all(engine, clients)
        report.retries = clients.policy.ledger.total
        report.finishedAt = now()
        sections_failed = any(s.failed(report) for s, _ in self.manifest.present_sections())
        report.status = overall_status(report, interrupted=self.stop.is_set(), sections_failed=sections_failed)
        return report

    @functools.cached_property
    def _previous(self) -> Report | None:
        """The previous report in the output directory, read once: the sections' planning, their finishing and
        the carry-over all use it."""
        path = self.options.previous_report
        if path is None or not os.path.exists(path):
            return None
        try:
            return load_report(str(path))
        except (MirrorsyncError, OSError) as exc:
            # Only costs what a failure this run would have kept; the run itself is not at fault.
            log.warning("cannot read the previous report (%s): no mirror entries are kept from it", exc)
            return None

    def _image_workers(self, engine: Engine, jobs: list[CopyJob]) -> int:
        """The run's concurrency, or more where the native engine reads from far-away registries (``pacing``)."""
        concurrency = self._value("concurrency")
        copier = engine.inner if isinstance(engine, SignatureGate) else engine
        sources = copier.source_registries(jobs) if isinstance(copier, NativeEngine) else []
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


def _close_all(engine: Engine, clients: Clients) -> None:
    engine.close()
    clients.close()


def run(manifest: SyncManifest | str | os.PathLike[str], options: RunOptions | None = None) -> Report:
    """Copy what the manifest (a loaded one, or its path) selects to its mirrors; the report says what happened.

    Raises ``InputError`` for bad input (manifest, auth file, certDir) before anything is copied; a failed
    image does not raise, it is in the report (``status``). Writes nothing: see :meth:`Report.save` and
    :func:`mirrorsync.pipeline.outputs.write_mirror_sets`.
    """
    if not isinstance(manifest, SyncManifest):
        from .sections import load_manifest

        manifest = load_manifest(os.fspath(manifest))
    return Runner(manifest, options or RunOptions()).run()
