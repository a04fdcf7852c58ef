"""The copy algorithm: one image (a tag or a digest, an index with every child) from one store to many.

Guarantees, whatever the stores:
- digests are preserved: manifests are copied as bytes, never re-serialised;
- children before parents and the tag last, so a tag on a target never points at incomplete content;
- each blob is read from the source once and written to every target that lacks it (fan-out), checked against its
  digest while streaming; blobs a target already has are not sent, and blobs it holds in another repository are
  mounted where the store supports it;
- a failing target does not stop the others.

What to copy is decided in ``prepare.py`` (shared with the skopeo engine), and one read reaches several uploads
through ``tee.py``.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Executor, Future
from typing import Callable, Iterator

from ..errors import DigestMismatch, describe
from ..oci.content import Descriptor, Manifest
from ..oci.store import ContentStore
from ..registry import retry
from ..registry.retry import RetryPolicy
from .companions import CompanionSpec, carry as carry_companions
from .copy_results import CopyResult, Target, TargetResult
from .image_progress import ImageProgress
from .platforms import PlatformFilter
from .prepare import MAX_INDEX_DEPTH, config_platform, prepare, walk  # noqa: F401 - also imported from here
from .tee import _Counter, _skip, _tee
from .status import Status


class BlobLedger:
    """What this run knows about blobs on each store, shared by every image copy.

    It lets a blob pushed to one repository be mounted into the next instead of uploaded again, and makes two
    images that need the same blob at the same moment transfer it once (a lock per digest).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._where: dict[tuple[int, str], set[str]] = {}
        # said to be there by someone else (a site's report): worth a mount, never taken as there
        self._said: dict[tuple[int, str], set[str]] = {}
        self._digest_locks: dict[str, threading.Lock] = {}

    def add(self, store: ContentStore, repo: str, digest: str) -> None:
        with self._lock:
            self._where.setdefault((id(store), digest), set()).add(repo)

    def has(self, store: ContentStore, repo: str, digest: str) -> bool:
        with self._lock:
            return repo in self._where.get((id(store), digest), ())

    def said_to_hold(self, store: ContentStore, repo: str, digest: str) -> None:
        """``repo`` of ``store`` is said to hold ``digest`` (a site's last report): a repository to mount it from
        when another one lacks it; whether it is there is left to the store (``has`` does not count it)."""
        with self._lock:
            self._said.setdefault((id(store), digest), set()).add(repo)

    def elsewhere(self, store: ContentStore, repo: str, digest: str) -> str | None:
        """Another repository of ``store`` known (else said) to hold ``digest``."""
        with self._lock:
            others = sorted(self._where.get((id(store), digest), set()) - {repo}) or \
                sorted(self._said.get((id(store), digest), set()) - {repo})
        return others[0] if others else None

    def digest_lock(self, digest: str) -> threading.Lock:
        with self._lock:
            return self._digest_locks.setdefault(digest, threading.Lock())


def guarded(result: CopyResult, copy: Callable[[], None]) -> CopyResult:
    """Run one image's copy with its retries counted against it; an error lands in ``result``, never raised."""
    owner = retry.current_owner()
    retry.bind_owner(result)
    try:
        copy()
    except Exception as exc:  # noqa: BLE001 - this image fails, the run goes on
        result.error = describe(exc)
    finally:
        retry.bind_owner(owner)
    if result.error:
        for tr in result.targets:
            if tr.status == Status.PENDING:
                tr.status, tr.error = Status.FAILED, result.error
    return result



class Copier:
    """Copies images between stores; one instance serves a whole run (its ledger and blob pool are shared)."""

    def __init__(self, blob_pool: Executor, *, policy: RetryPolicy | None = None,
                 ledger: BlobLedger | None = None) -> None:
        self.blob_pool = blob_pool
        self.policy = policy or RetryPolicy()
        self.ledger = ledger or BlobLedger()
        # An image's blobs are copied by several threads at once: its counters are updated under this lock,
        # as `+=` on a shared attribute can lose an update.
        self._counts = threading.Lock()

    # --- the whole image ------------------------------------------------------------------------------------------

    def copy(self, source: ContentStore, source_repo: str, ref: str, targets: list[Target], *,
             tag: str | None = None, platforms: PlatformFilter | None = None,
             companions: CompanionSpec | None = None, progress: ImageProgress | None = None) -> CopyResult:
        """Copy ``source_repo`` at ``ref`` (tag or digest) to every target, tagging it ``tag`` when given; with
        ``platforms`` only those platforms, with ``companions`` the signatures and referrers that go with it;
        ``progress`` is told the bytes of its blobs to move and moved."""
        result = CopyResult(targets=[TargetResult() for _ in targets], progress=progress)

        def run() -> None:
            self._copy(source, source_repo, ref, targets, tag, result, platforms)
            if companions is not None and companions.wanted and result.digest:
                carry_companions(self, source, source_repo, targets, result, companions)

        return guarded(result, run)

    def _copy(self, source: ContentStore, source_repo: str, ref: str, targets: list[Target], tag: str | None,
              result: CopyResult, platforms: PlatformFilter | None = None) -> None:
        prepared = prepare(source, source_repo, ref, [(t.store, t.repo) for t in targets], tag, result, platforms)
        if prepared is None:
            return
        top, manifests, pending = prepared
        self.push(source, source_repo, top, manifests, [(i, targets[i]) for i in pending], tag, result,
                  sparse=platforms is not None and not platforms.rewrite)

    def push(self, source: ContentStore, source_repo: str, top: Manifest, manifests: list[Manifest],
             work: list[tuple[int, Target]], tag: str | None, result: CopyResult, *, sparse: bool = False) -> None:
        """Put ``manifests`` (``top`` last) and their blobs on each target of ``work`` that lacks them; ``top``
        under ``tag`` (or its digest). Each target's outcome lands in its ``result.targets`` entry."""
        targets = dict(work)
        pending = list(targets)

        # Which manifests each target lacks (children first); the top one is always pushed.
        need: dict[int, list[Manifest]] = {}
        for i in pending:
            t = targets[i]
            try:
                need[i] = [m for m in manifests if m is top or t.store.manifest_descriptor(t.repo, m.digest) is None]
            except Exception as exc:  # noqa: BLE001
                result.targets[i].status, result.targets[i].error = Status.FAILED, describe(exc)
        alive = [i for i in pending if i in need]

        self._copy_blobs(source, source_repo, [(i, targets[i], need[i]) for i in alive], result)

        for i in alive:
            tr, t = result.targets[i], targets[i]
            if tr.status == Status.FAILED:
                continue
            try:
                for m in need[i]:
                    if m is top:
                        continue
                    t.store.put_manifest(t.repo, m.digest, m)
                    tr.manifests_pushed += 1
                t.store.put_manifest(t.repo, tag or top.digest, top)
                tr.manifests_pushed += 1
                tr.status = Status.COPIED
            except Exception as exc:  # noqa: BLE001
                tr.status, tr.error = Status.FAILED, describe(exc)
                if sparse and getattr(exc, "code", None) == "MANIFEST_BLOB_UNKNOWN":
                    tr.error = (f"{t.label} refuses an index whose platforms are not all there (a sparse index), "
                                f"as docker-registry 2.8 does: {tr.error}; mirror every platform, or set "
                                "platformMode: rewrite to push an index of the listed platforms only (its own "
                                "digest, served by tag mirror entries)")

    # --- blobs ----------------------------------------------------------------------------------------------------

    def _copy_blobs(self, source: ContentStore, source_repo: str,
                    work: list[tuple[int, Target, list[Manifest]]], result: CopyResult) -> None:
        blobs: dict[str, Descriptor] = {}
        wanted: dict[str, list[int]] = {}
        for i, _t, manifests in work:
            for m in manifests:
                for b in m.blobs:
                    if b.foreign:
                        continue
                    blobs.setdefault(b.digest, b)
                    if i not in wanted.setdefault(b.digest, []):
                        wanted[b.digest].append(i)
        targets = {i: t for i, t, _ in work}
        if result.progress is not None:
            result.progress.expect(sum(blobs[d].size for d in wanted))
        owner = result
        futures: list[Future] = []
        for digest, idx in wanted.items():
            futures.append(self.blob_pool.submit(self._blob_task, owner, source, source_repo, blobs[digest],
                                                 [(i, targets[i]) for i in idx], result))
        for f in futures:
            f.result()

    def _blob_task(self, owner: CopyResult, source: ContentStore, source_repo: str, desc: Descriptor,
                   targets: list[tuple[int, Target]], result: CopyResult) -> None:
        retry.bind_owner(owner)
        try:
            with self.ledger.digest_lock(desc.digest):
                self._blob(source, source_repo, desc, targets, result)
        except Exception as exc:  # noqa: BLE001 - recorded per target below
            message = describe(exc)
            for i, _t in targets:
                tr = result.targets[i]
                if tr.status != Status.FAILED:
                    tr.status, tr.error = Status.FAILED, message
        finally:
            retry.bind_owner(None)

    def _blob(self, source: ContentStore, source_repo: str, desc: Descriptor, targets: list[tuple[int, Target]],
              result: CopyResult) -> None:
        missing: list[tuple[int, Target]] = []
        for i, t in targets:
            tr = result.targets[i]
            if tr.status == Status.FAILED:
                continue
            try:
                if self.ledger.has(t.store, t.repo, desc.digest):
                    self._count(tr, blobs_skipped=1, bytes_skipped=desc.size)
                    continue
                # where this run saw the blob in another repository of the store, the store may mount it from there
                other = self.ledger.elsewhere(t.store, t.repo, desc.digest)
                reuse = t.store.try_reusing_blob(t.repo, desc.digest, (other,) if other else ())
                if reuse.present:
                    self.ledger.add(t.store, t.repo, desc.digest)
                    if reuse.mounted_from:
                        self._count(tr, blobs_mounted=1, bytes_skipped=desc.size)
                    else:
                        self._count(tr, blobs_skipped=1, bytes_skipped=desc.size)
                    continue
            except Exception as exc:  # noqa: BLE001
                tr.status, tr.error = Status.FAILED, describe(exc)
                continue
            missing.append((i, t))
        if not missing:
            if result.progress is not None:
                result.progress.add(desc.size)  # nothing to move: as good as moved
            return

        remaining = list(missing)

        def attempt() -> None:
            nonlocal remaining
            errors = self._transfer(source, source_repo, desc, [t for _i, t in remaining], result)
            # Each target's error is its own and final: the store has retried its requests already (a registry
            # retries each one and resumes uploads), so no target's error decides for another.
            for (i, t), error in zip(remaining, errors):
                if error is None:
                    self.ledger.add(t.store, t.repo, desc.digest)
                    self._count(result.targets[i], blobs_sent=1, bytes_sent=desc.size)
                else:
                    result.targets[i].status = Status.FAILED
                    result.targets[i].error = f"blob {desc.digest}: {describe(error)}"
            remaining = []

        try:
            # Only wrong bytes from the source are worth reading the whole blob again for; a source that does not
            # answer has had its requests retried already.
            retry.call(self.policy, attempt, f"copying blob {desc.digest}",
                       worth_retrying=lambda exc: isinstance(exc, DigestMismatch))
        except Exception as exc:  # noqa: BLE001
            message = describe(exc)
            for i, _t in remaining:
                result.targets[i].status = Status.FAILED
                result.targets[i].error = f"blob {desc.digest}: {message}"

    def _count(self, tr: TargetResult, **add: int) -> None:
        with self._counts:
            for name, n in add.items():
                setattr(tr, name, getattr(tr, name) + n)

    def _transfer(self, source: ContentStore, source_repo: str, desc: Descriptor, targets: list[Target],
                  result: CopyResult) -> list[BaseException | None]:
        """Read the blob once and stream it into every target; one error (or None) per target.

        A target whose upload breaks goes on from where its session stands with a read of its own from that
        offset (``reopen``), while the others keep the shared read: memory stays one buffer per target.
        """
        counted = _Counter(result.progress.add if result.progress is not None else None)

        @contextlib.contextmanager
        def reopen(offset: int) -> Iterator[Iterator[bytes]]:
            again = _Counter()
            try:
                if getattr(source, "supports_range", False):
                    with source.read_blob(source_repo, desc, offset) as chunks:
                        yield again.wrap(chunks)
                else:  # a local store: reading up to the offset again costs little
                    with source.read_blob(source_repo, desc) as chunks:
                        yield again.wrap(_skip(chunks, offset))
            finally:
                with self._counts:
                    result.bytes_read += again.n

        try:
            with source.read_blob(source_repo, desc) as chunks:
                counting = counted.wrap(chunks)
                if len(targets) == 1:
                    t = targets[0]
                    try:
                        t.store.write_blob(t.repo, desc, counting, reopen)
                        errors: list[BaseException | None] = [None]
                    except Exception as exc:  # noqa: BLE001
                        if counted.source_error is not None:
                            raise counted.source_error from None
                        errors = [exc]
                else:
                    errors = _tee(counting, [lambda it, t=t: t.store.write_blob(t.repo, desc, it, reopen)
                                             for t in targets])
                    if counted.source_error is not None:
                        raise counted.source_error
        finally:
            with self._counts:
                result.bytes_read += counted.n
        return errors
