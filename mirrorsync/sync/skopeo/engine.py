"""``SkopeoEngine``: the engine contract, with each image moved to each mirror by ``skopeo copy``."""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ...errors import describe
from ...registry import auth, retry
from ..copy import guarded
from ..copy_results import CopyResult, TargetResult
from ..engines import Clients, source_of
from ..image_progress import ImageProgress
from ..plan import CopyJob, Destination
from ..prepare import prepare
from .arguments import copy_argv, docker_ref
from .auth_file import auth_memfd, auth_path
from .binary import find_skopeo, system_policy
from .budget import _Budget, _Progress
from .private_dir import private_dir
from .process import STOPPED, run_skopeo
from .transcript import Transcript
from ..status import Status
from ..through_mirrors import SourceThroughMirrors

# the name the log has always given these messages (the JSON log shows it)
log = logging.getLogger(__package__)


class SkopeoEngine:
    """Copies each image with ``skopeo copy --all --preserve-digests``, one process per mirror, several at once."""

    name = "skopeo"

    def __init__(self, clients: Clients, *, retries: int = 5, timeout: float = 60.0, processes: int = 4,
                 binary: str | None = None, sources: SourceThroughMirrors | None = None,
                 registries_conf: str | None = None) -> None:
        """``sources``: the source mirrors mirrorsync reads through (the manifests it checks first); skopeo reads
        through the same ones from ``registries_conf`` (a registries.conf text; None: skopeo's own search)."""
        self.clients = clients
        self.sources = sources
        self.retries = retries
        self.timeout = timeout
        self.binary, self.version = find_skopeo(binary)
        self._policy_file: str | None = None
        self._setpriv = shutil.which("setpriv")  # util-linux: skopeo dies with mirrorsync, however that ends
        self._dir, lock = private_dir()
        self._dir_lock: int | None = lock
        self._tmp = self._dir / "tmp"
        self._tmp.mkdir(mode=0o700)
        self._pool = ThreadPoolExecutor(max_workers=max(1, processes), thread_name_prefix="skopeo")
        self._cancel = threading.Event()
        if system_policy() is None:
            # skopeo refuses to run without a policy; mirrorsync verifies digests, not signatures
            self._policy_file = str(self._dir / "policy.json")
            Path(self._policy_file).write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        self._registries_conf: str | None = None
        if registries_conf is not None:
            self._registries_conf = str(self._dir / "registries.conf")
            Path(self._registries_conf).write_text(registries_conf, encoding="utf-8")
        log.info("skopeo engine: %s (version %s)", self.binary, ".".join(map(str, self.version)))

    def copy(self, job: CopyJob, progress: ImageProgress | None = None) -> CopyResult:
        """Copy one image to every destination of the job; never raises for a failed copy (it is in the result).
        ``progress`` is not told anything: skopeo does not say how far it is."""
        result = CopyResult(targets=[TargetResult() for _ in job.destinations])
        guarded(result, lambda: self._copy(job, result))
        if self.sources is not None and job.source_store is None and result.read_from is None:
            # no skopeo read it (up to date, or none said where): where mirrorsync's own read found it
            result.read_from = self.sources.read_from(job.source.name, job.ref)
        return result

    def _copy(self, job: CopyJob, result: CopyResult) -> None:
        source, source_repo = source_of(job, self.clients, self.sources)
        repo = job.source.repository
        targets = [(self.clients.get(d.mirror.registry), d.repository) for d in job.destinations]
        prepared = prepare(source, source_repo, job.ref, targets, job.push_tag, result)
        if prepared is None:
            return
        top, manifests, pending = prepared
        # foreign layers stay where their URLs point, as in the native engine
        blobs = {b.digest: b.size for m in manifests for b in m.blobs if not b.foreign}

        # skopeo reads the source by digest: whatever the tag does meanwhile, the mirror gets what we reported
        src_ref = docker_ref(job.source.registry, repo, top.digest)
        futures = {i: self._pool.submit(self._to_mirror, job, job.destinations[i], src_ref, top.digest,
                                        result, blobs, set(result.children)) for i in pending}
        for i, fut in futures.items():
            result.targets[i] = fut.result()

    def _to_mirror(self, job: CopyJob, dest: Destination, src_ref: str, digest: str, result: CopyResult,
                   blobs: dict[str, int], children: set[str]) -> TargetResult:
        """Run ``skopeo copy`` until it succeeds, fails for good, or stops moving the image forward (``_Budget``)."""
        tr = TargetResult()
        retry.bind_owner(result)
        fd: int | None = None
        try:
            # keyed host/repository, which skopeo takes as the most specific key for exactly that repository
            creds = {f"{host}/{repo}": self._credentials(host, repo) for host, repo in
                     ((job.source.registry, job.source.repository), (dest.mirror.registry, dest.repository),
                      *self._source_mirrors(job))}
            secrets = tuple(s for c in creds.values() if c for s in (c.password, c.identity_token) if s)
            fd = auth_memfd(creds)
            ref = job.push_tag or digest
            dst_ref = docker_ref(dest.mirror.registry, dest.repository, ref)
            argv = copy_argv(self.binary, src_ref, dst_ref,
                             source_settings=self.clients.manifest.settings_for(job.source.registry),
                             dest_settings=self.clients.manifest.settings_for(dest.mirror.registry),
                             auth_file=auth_path(fd), policy=self._policy_file, tmpdir=str(self._tmp),
                             setpriv=self._setpriv, registries_conf=self._registries_conf)
            log.debug("running %s", shlex.join(argv))
            mirror = self.clients.get(dest.mirror.registry)
            progress = _Progress(mirror, dest.repository, ref, digest, blobs, children)
            budget = _Budget(self.retries, progress)
            transcripts: list[Transcript] = []
            while True:
                outcome = run_skopeo(argv, stall_timeout=self.timeout, cancel=self._cancel, secrets=secrets,
                                     pass_fds=(fd,))
                transcripts.append(outcome.transcript)
                error = outcome.error
                if outcome.ok or self._cancel.is_set():
                    break
                if progress.landed():
                    error = None  # the answer to the last PUT was lost, the PUT was not: the mirror has the image
                    break
                why = budget.spend(outcome)
                if why:
                    error = f"{error} ({why})"
                    break
                wait = retry.backoff(self.clients.policy, budget.failures_here)
                self.clients.policy.ledger.record()
                log.info("skopeo copy %s -> %s failed (run %d); running it again in %.2fs: %s", src_ref, dst_ref,
                         budget.runs, wait, error)
                if self._cancel.wait(wait):
                    error = STOPPED
                    break
            _account(tr, transcripts, blobs, result, ok=error is None)
            if self.sources is not None and error is None and result.read_from is None:
                result.read_from = transcripts[-1].read_from  # where skopeo's own registries.conf sent it
            if error is not None:
                tr.status, tr.error = Status.FAILED, error
                return tr
            # Trust, but check: the mirror sets will claim this digest is on this mirror.
            have = mirror.manifest_descriptor(dest.repository, ref)
            if have is None or have.digest != digest:
                tr.status = Status.FAILED
                tr.error = (f"skopeo reported success but {dest.name} has "
                            f"{have.digest if have else 'nothing'} for {ref}, expected {digest}")
                return tr
            tr.status = Status.COPIED
        except Exception as exc:  # noqa: BLE001 - this target fails, the others go on
            tr.status, tr.error = Status.FAILED, describe(exc)
        finally:
            if fd is not None:
                os.close(fd)
            retry.bind_owner(None)
        return tr

    def _source_mirrors(self, job: CopyJob) -> list[tuple[str, str]]:
        """(host, repository) of the mirrors skopeo may read the job's source from (it reads by digest)."""
        if self.sources is None or job.source_store is not None:
            return []
        return [tuple(loc.label.split("/", 1)) for loc in self.sources.locations(job.source.name, by_digest=True)
                if loc.mirror]

    def _credentials(self, host: str, repository: str) -> auth.Credentials | None:
        """The credentials the native engine would use for ``host/repository`` (its ``authFile``, else the run's)."""
        return self.clients.get(host).auth.credentials(repository)  # the same lookup and cache as the native client

    def close(self) -> None:
        """Kill any skopeo still running, wait for the workers, and remove the private directory."""
        self._cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)
        if self._dir_lock is not None:  # (close may be called twice)
            os.close(self._dir_lock)
            self._dir_lock = None


def _account(tr: TargetResult, transcripts: list[Transcript], blobs: dict[str, int], result: CopyResult, *,
             ok: bool) -> None:
    """Fill the byte and blob counters from what skopeo logged over all runs; each distinct blob counts once.

    A blob it uploaded was sent; one it tried to mount from another repository and did not upload was mounted.
    After a successful copy every other blob of the image was already in the repository (skopeo checks a config
    blob without logging a skip, so success, not its log, says so). Sizes come from the manifests.
    """
    uploaded = set().union(*(t.uploaded for t in transcripts))
    mount_tried = set().union(*(t.mount_tried for t in transcripts))
    skipped_seen = set().union(*(t.skipped for t in transcripts))
    sent = uploaded & blobs.keys()
    mounted = (mount_tried & blobs.keys()) - sent
    skipped = (blobs.keys() if ok else skipped_seen & blobs.keys()) - sent - mounted
    tr.blobs_sent, tr.bytes_sent = len(sent), sum(blobs[d] for d in sent)
    tr.blobs_mounted, tr.blobs_skipped = len(mounted), len(skipped)
    tr.bytes_skipped = sum(blobs[d] for d in mounted | skipped)
    tr.manifests_pushed = len(set().union(*(t.manifests_put for t in transcripts)))
    # each skopeo process reads the source on its own: what it downloaded is what this run read
    with _READ_LOCK:
        result.bytes_read += sum(blobs[d] for t in transcripts for d in t.downloaded & blobs.keys())


_READ_LOCK = threading.Lock()
