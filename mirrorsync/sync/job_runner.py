"""Running planned copy jobs: each worker takes the next job as soon as it is free, the records they give, and the
status of a run from them. The engine's part of a run; :mod:`mirrorsync.pipeline.runner` wires the rest."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from ..errors import MirrorsyncError
from . import pacing
from .copy import CopyResult
from .engines import Engine
from .host_breaker import HostBreaker
from .image_progress import ImageProgress
from .manifest import SyncManifest
from .plan import CopyJob, destinations
from .report import ImageRecord, Report
from .status import RunStatus, Status

log = logging.getLogger(__name__)


@dataclass
class Event:
    kind: str  # "planned" | "start" | "done"
    job: CopyJob | None = None
    record: ImageRecord | None = None
    total: int = 0
    progress: ImageProgress | None = None  # "start": where the engine tells how far the image is


@dataclass
class JobRunner:
    """Copies jobs through an engine, ``concurrency`` at a time, telling ``on_event`` as it goes; ``stop`` takes no
    new job, ``abandon`` (after ``stop``, a second Ctrl-C) reports the jobs in flight as failed and waits no more;
    ``throttled`` (the run's ``RetryLedger.throttled``) stops the workers added beyond ``concurrency``."""

    manifest: SyncManifest
    concurrency: int
    on_event: Callable[[Event], None] = lambda e: None
    stop: threading.Event = field(default_factory=threading.Event)
    abandon: threading.Event = field(default_factory=threading.Event)
    throttled: threading.Event = field(default_factory=threading.Event)
    # the hosts given up on: their images fail without being tried, and each image finished counts towards it
    breaker: HostBreaker | None = None
    _listener_failed: bool = field(default=False, init=False, repr=False)

    def notify(self, event: Event) -> None:
        """Tell ``on_event``; a listener that fails (progress on a broken stderr) must not cost a worker or an
        image, so it is logged once and ignored."""
        try:
            self.on_event(event)
        except Exception as exc:  # noqa: BLE001 - whatever the listener does wrong, the copies go on
            if not self._listener_failed:
                self._listener_failed = True
                log.warning("progress listener failed (%s: %s); ignored", type(exc).__name__, exc)

    def _copy(self, engine: Engine, job: CopyJob) -> ImageRecord:
        """One job's record: copied, or failed untried when a host it needs was given up (``breaker``)."""
        refused = self.breaker.refusal(job) if self.breaker is not None else None
        if refused is not None:
            return failed_record(job.spec, job, refused, self.manifest)
        progress = ImageProgress()
        self.notify(Event("start", job=job, progress=progress))
        try:
            result = engine.copy(job, progress)
        except Exception as exc:  # noqa: BLE001 - an engine bug must not lose the other images
            result = CopyResult(error=f"{type(exc).__name__}: {exc}")
        if self.breaker is not None:
            self.breaker.observe(job, result)
        return to_record(job, result)

    def execute(self, engine: Engine, jobs: list[CopyJob], workers: int | None = None) -> list[ImageRecord]:
        """Copy the jobs, ``concurrency`` at a time; each worker takes the next job itself as soon as it is free.

        The main thread only waits (and stays responsive to signals): with thousands of quick jobs, as in a no-op
        re-sync, handing each job over through it would leave workers idle while it is descheduled.
        """
        records: list[ImageRecord] = []
        queue = deque(jobs)
        in_flight: dict[int, CopyJob] = {}
        lock = threading.Lock()
        concurrency = self.concurrency
        workers_left = min(workers or concurrency, len(jobs))
        all_done = threading.Event()

        def next_job(worker: int) -> CopyJob | None:
            with lock:
                if not queue or self.stop.is_set() or not pacing.may_continue(worker, concurrency, self.throttled):
                    return None
                job = queue.popleft()
                in_flight[id(job)] = job
                return job

        def work(worker: int) -> None:
            nonlocal workers_left
            try:
                while (job := next_job(worker)) is not None:
                    record = self._copy(engine, job)
                    with lock:
                        if self.abandon.is_set():
                            return  # the main thread has reported it as abandoned
                        del in_flight[id(job)]
                        records.append(record)
                    self.notify(Event("done", job=job, record=record))
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
                    records.append(failed_record(job.spec, job, "interrupted: abandoned while in flight",
                                                  self.manifest))
                in_flight.clear()
            for job in queue:
                records.append(failed_record(job.spec, job, "interrupted before it started", self.manifest,
                                              status=Status.SKIPPED))
            queue.clear()
            return list(records)



def not_asked(host: str):
    """The mirrors' stores after a second signal: none is asked whether it still holds what an earlier run put
    there (the user said not to wait), so carry-over keeps those entries unconfirmed."""
    raise MirrorsyncError(f"{host} not asked: the run was abandoned by a second signal")


def to_record(job: CopyJob, result: CopyResult) -> ImageRecord:
    """An engine's ``CopyResult`` for one job as a report record."""
    dests = []
    for d, tr in zip(job.destinations, result.targets or [None] * len(job.destinations)):
        if tr is None:
            dests.append(d.record(Status.FAILED, error=result.error))
            continue
        dests.append(d.record(
            Status.FAILED if tr.status == Status.PENDING else Status(tr.status),
            bytesSent=tr.bytes_sent, bytesSkipped=tr.bytes_skipped, blobsSent=tr.blobs_sent,
            blobsSkipped=tr.blobs_skipped, blobsMounted=tr.blobs_mounted, manifestsPushed=tr.manifests_pushed,
            error=tr.error))
    ok = [d for d in dests if d.ok]
    if ok and len(ok) == len(dests):
        status = Status.COPIED if any(d.status == Status.COPIED for d in dests) else Status.UP_TO_DATE
    elif ok:
        status = Status.PARTIAL
    else:
        status = Status.FAILED
    if result.signature is not None and not result.signature["accepted"]:
        status = Status.SIGNATURE_REJECTED
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
                       mirrorTag=job.target_tag, readFrom=result.read_from, signature=result.signature)


def failed_record(spec, job: CopyJob | None, error: str, manifest: SyncManifest,
                  status: Status = Status.FAILED) -> ImageRecord:
    dests = [d.record(status, error=error) for d in destinations(manifest, spec)]
    return ImageRecord(source=spec.source.name, tag=job.tag if job else None, digest=job.digest if job else None,
                       status=status, mirrorSets=spec.fed_mirror_sets, mirrorSourcePolicy=spec.mirror_source_policy,
                       scope=spec.scope, destinations=dests, error=error,
                       mirrorTag=job.target_tag if job else None)


def overall_status(report: Report, *, interrupted: bool, sections_failed: bool = False) -> str:
    if interrupted:
        return RunStatus.INTERRUPTED
    if not report.failed and not sections_failed:
        return RunStatus.SUCCEEDED
    if len(report.failed) == len(report.images):
        return RunStatus.FAILED
    return RunStatus.PARTIALLY_FAILED


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
