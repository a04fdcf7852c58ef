"""The copy algorithm: one image (a tag or a digest, an index with every child) from one store to many.

Guarantees, whatever the stores:
- digests are preserved: manifests are copied as bytes, never re-serialised;
- children before parents and the tag last, so a tag on a target never points at incomplete content;
- each blob is read from the source once and written to every target that lacks it (fan-out), checked against its
  digest while streaming; blobs a target already has are not sent, and blobs it holds in another repository are
  mounted where the store supports it;
- a failing target does not stop the others.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from ..errors import DigestMismatch, UnsupportedContent, describe
from ..oci.content import Descriptor, Manifest
from ..oci.image_files import image_config
from ..oci.store import ContentStore
from ..registry import retry
from ..registry.retry import RetryPolicy
from .companions import CompanionSpec, carry as carry_companions
from .platforms import PlatformFilter, select as select_platforms

log = logging.getLogger(__name__)

MAX_INDEX_DEPTH = 4


@dataclass
class Target:
    """Where one image goes: a repository in a store, labelled for the report (the mirror location)."""

    store: ContentStore
    repo: str
    label: str


@dataclass
class TargetResult:
    status: str = "pending"  # "copied" | "up-to-date" | "failed"
    bytes_sent: int = 0
    bytes_skipped: int = 0
    blobs_sent: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    manifests_pushed: int = 0
    error: str | None = None


@dataclass
class CopyResult:
    digest: str | None = None
    media_type: str | None = None
    children: list[str] = field(default_factory=list)
    targets: list[TargetResult] = field(default_factory=list)
    bytes_read: int = 0
    retries: int = 0
    error: str | None = None  # a failure before any target could be written (the source side)
    platforms: list[str] | None = None  # with a platform filter: the platforms copied
    missing_platforms: list[str] = field(default_factory=list)  # listed platforms the source does not have
    rewritten_digest: str | None = None  # platformMode rewrite: the digest of the index pushed instead of ``digest``
    companions: list[dict] = field(default_factory=list)  # what travelled with the image (companions.py)


class BlobLedger:
    """What this run knows about blobs on each store, shared by every image copy.

    It lets a blob pushed to one repository be mounted into the next instead of uploaded again, and makes two
    images that need the same blob at the same moment transfer it once (a lock per digest).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._where: dict[tuple[int, str], set[str]] = {}
        self._digest_locks: dict[str, threading.Lock] = {}

    def add(self, store: ContentStore, repo: str, digest: str) -> None:
        with self._lock:
            self._where.setdefault((id(store), digest), set()).add(repo)

    def has(self, store: ContentStore, repo: str, digest: str) -> bool:
        with self._lock:
            return repo in self._where.get((id(store), digest), ())

    def elsewhere(self, store: ContentStore, repo: str, digest: str) -> str | None:
        """Another repository of ``store`` known to hold ``digest``."""
        with self._lock:
            others = sorted(self._where.get((id(store), digest), set()) - {repo})
        return others[0] if others else None

    def digest_lock(self, digest: str) -> threading.Lock:
        with self._lock:
            return self._digest_locks.setdefault(digest, threading.Lock())


def guarded(result: CopyResult, copy: Callable[[], None]) -> CopyResult:
    """Run one image's copy with its retries counted against it; an error lands in ``result``, never raised."""
    owner = retry.RETRIES.owner
    retry.RETRIES.bind(result)
    try:
        copy()
    except Exception as exc:  # noqa: BLE001 - this image fails, the run goes on
        result.error = describe(exc)
    finally:
        retry.RETRIES.bind(owner)
    if result.error:
        for tr in result.targets:
            if tr.status == "pending":
                tr.status, tr.error = "failed", result.error
    return result


def prepare(source: ContentStore, source_repo: str, ref: str, targets: Sequence[tuple[ContentStore, str]],
            tag: str | None, result: CopyResult,
            platforms: PlatformFilter | None = None) -> tuple[Manifest, list[Manifest], list[int]] | None:
    """The decisions every engine shares, so that a report means the same whichever engine copied.

    Marks the targets that already hold the image ``up-to-date`` (and those that cannot be asked ``failed``) in
    ``result``; for the others returns the top manifest to push, every manifest under it (children first, top
    last) and their indexes. None when no target needs anything.
    """
    if platforms is not None:
        return _prepare_platforms(source, source_repo, ref, targets, tag, result, platforms)
    by_digest = ":" in ref
    known = ref if by_digest else None
    probe = tag or known
    present: dict[int, str | None] = {}
    for i, (store, repo) in enumerate(targets):
        try:
            have = store.manifest_descriptor(repo, probe) if probe else None
        except Exception as exc:  # noqa: BLE001 - this target fails, the others go on
            result.targets[i].status, result.targets[i].error = "failed", describe(exc)
            continue
        present[i] = have.digest if have else None
    if not by_digest and any(present.values()):
        # Some target has the tag: HEAD (not GET) the source to compare, since registries rate-limit GETs
        # and a no-op re-sync needs only the digest. When no target has it, the GET below is enough.
        desc = source.manifest_descriptor(source_repo, ref)
        known = desc.digest if desc else None
        result.media_type = desc.media_type.split(";")[0] or None if desc else None
    pending: list[int] = []
    for i, digest in present.items():
        if known and digest == known:
            result.targets[i].status = "up-to-date"
        else:
            pending.append(i)
    if not pending:
        result.digest = known
        return None
    top = source.get_manifest(source_repo, ref)
    result.digest, result.media_type = top.digest, top.media_type
    if known and known != top.digest:
        # the tag moved between HEAD and GET: copy what GET returned, consistently
        log.info("%s:%s moved to %s while being read", source_repo, ref, top.digest)
    manifests = walk(source, source_repo, top)
    result.children = [m.digest for m in manifests if m is not top]
    return top, manifests, pending


def _prepare_platforms(source: ContentStore, source_repo: str, ref: str, targets: Sequence[tuple[ContentStore, str]],
                       tag: str | None, result: CopyResult,
                       platforms: PlatformFilter) -> tuple[Manifest, list[Manifest], list[int]] | None:
    """``prepare`` for an image of which only some platforms go: the source index is read (GET, not HEAD) since
    what a target must hold — the index pushed and the listed platforms' manifests under it — follows from it.

    A target is up to date when its tag (or digest) is that index and every listed platform's manifest is there,
    so that adding a platform to the list copies it on the next run.
    """
    top = source.get_manifest(source_repo, ref)
    result.digest, result.media_type = top.digest, top.media_type
    chosen = select_platforms(top, platforms, lambda: config_platform(source, source_repo, top))
    result.platforms, result.missing_platforms = list(chosen.taken), list(chosen.missing)
    if chosen.missing:
        log.warning("%s@%s has no %s: copying %s", source_repo, top.digest, ", ".join(chosen.missing),
                    ", ".join(chosen.taken))
    pushed = chosen.top
    if chosen.rewritten:
        result.rewritten_digest = pushed.digest
    probe = tag or pushed.digest
    result.children = [c.digest for c in chosen.children]  # what verify walks, also when nothing is copied
    pending: list[int] = []
    for i, (store, repo) in enumerate(targets):
        try:
            have = store.manifest_descriptor(repo, probe)
            if (have is not None and have.digest == pushed.digest
                    and all(store.manifest_descriptor(repo, c.digest) for c in chosen.children)):
                result.targets[i].status = "up-to-date"
            else:
                pending.append(i)
        except Exception as exc:  # noqa: BLE001 - this target fails, the others go on
            result.targets[i].status, result.targets[i].error = "failed", describe(exc)
    if not pending:
        return None
    manifests = walk(source, source_repo, top, chosen.children)[:-1] + [pushed]
    result.children = [m.digest for m in manifests if m is not pushed]
    return pushed, manifests, pending


def config_platform(source: ContentStore, repo: str, image: Manifest) -> tuple[str, str, str | None]:
    """The os, architecture and variant a single image's config says."""
    doc = image_config(source, repo, image)
    try:
        return str(doc["os"]), str(doc["architecture"]), (str(doc["variant"]) if doc.get("variant") else None)
    except KeyError:
        raise UnsupportedContent(f"image {image.digest}: its config does not say its os and architecture") from None


def walk(source: ContentStore, repo: str, top: Manifest,
         only: Sequence[Descriptor] | None = None) -> list[Manifest]:
    """Every manifest under ``top`` (of its entries, ``only`` these when given), deepest first and ``top`` last
    (the order they must be pushed in)."""
    out: list[Manifest] = []
    seen: set[str] = set()

    def visit(m: Manifest, depth: int) -> None:
        if depth > MAX_INDEX_DEPTH:
            raise UnsupportedContent(f"index {top.digest} nests deeper than {MAX_INDEX_DEPTH} levels")
        for child in (only if m is top and only is not None else m.children):
            if child.digest in seen:
                continue
            seen.add(child.digest)
            visit(source.get_manifest(repo, child.digest), depth + 1)
        out.append(m)

    visit(top, 0)
    return out


class _Failed(Exception):
    pass


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
             companions: CompanionSpec | None = None) -> CopyResult:
        """Copy ``source_repo`` at ``ref`` (tag or digest) to every target, tagging it ``tag`` when given; with
        ``platforms`` only those platforms, with ``companions`` the signatures and referrers that go with it."""
        result = CopyResult(targets=[TargetResult() for _ in targets])

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
                result.targets[i].status, result.targets[i].error = "failed", describe(exc)
        alive = [i for i in pending if i in need]

        self._copy_blobs(source, source_repo, [(i, targets[i], need[i]) for i in alive], result)

        for i in alive:
            tr, t = result.targets[i], targets[i]
            if tr.status == "failed":
                continue
            try:
                for m in need[i]:
                    if m is top:
                        continue
                    t.store.put_manifest(t.repo, m.digest, m)
                    tr.manifests_pushed += 1
                t.store.put_manifest(t.repo, tag or top.digest, top)
                tr.manifests_pushed += 1
                tr.status = "copied"
            except Exception as exc:  # noqa: BLE001
                tr.status, tr.error = "failed", describe(exc)
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
        owner = result
        futures: list[Future] = []
        for digest, idx in wanted.items():
            futures.append(self.blob_pool.submit(self._blob_task, owner, source, source_repo, blobs[digest],
                                                 [(i, targets[i]) for i in idx], result))
        for f in futures:
            f.result()

    def _blob_task(self, owner: CopyResult, source: ContentStore, source_repo: str, desc: Descriptor,
                   targets: list[tuple[int, Target]], result: CopyResult) -> None:
        retry.RETRIES.bind(owner)
        try:
            with self.ledger.digest_lock(desc.digest):
                self._blob(source, source_repo, desc, targets, result)
        except Exception as exc:  # noqa: BLE001 - recorded per target below
            message = describe(exc)
            for i, _t in targets:
                tr = result.targets[i]
                if tr.status != "failed":
                    tr.status, tr.error = "failed", message
        finally:
            retry.RETRIES.bind(None)

    def _blob(self, source: ContentStore, source_repo: str, desc: Descriptor, targets: list[tuple[int, Target]],
              result: CopyResult) -> None:
        missing: list[tuple[int, Target]] = []
        for i, t in targets:
            tr = result.targets[i]
            if tr.status == "failed":
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
                tr.status, tr.error = "failed", describe(exc)
                continue
            missing.append((i, t))
        if not missing:
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
                    result.targets[i].status = "failed"
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
                result.targets[i].status = "failed"
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
        counted = _Counter()

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


class _Counter:
    """Counts bytes pulled through an iterator and remembers an error the source raised (vs. the sink)."""

    def __init__(self) -> None:
        self.n = 0
        self.source_error: BaseException | None = None

    def wrap(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        try:
            for chunk in chunks:
                self.n += len(chunk)
                yield chunk
        except GeneratorExit:  # closed by its consumer (an upload going on from a read of its own)
            raise
        except BaseException as exc:
            self.source_error = exc
            raise


def _skip(chunks: Iterable[bytes], n: int) -> Iterator[bytes]:
    """``chunks`` without their first ``n`` bytes."""
    for chunk in chunks:
        if n >= len(chunk):
            n -= len(chunk)
            continue
        yield chunk[n:] if n else chunk
        n = 0


_END = object()


class _Abort:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Feed:
    """One consumer's stream of a ``_tee``. Closing it — done, or by a consumer that goes on from a read of its
    own, even before its first chunk (a generator closed before it started would not say so) — tells the producer
    to feed it no more, so the other consumers are never held up waiting for it."""

    def __init__(self, source: queue.Queue, on_close: Callable[[], None]) -> None:
        self._source = source
        self._on_close = on_close
        self._closed = False

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        item = self._source.get()
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, _Abort):
            self.close()
            raise item.exc
        return item

    def close(self) -> None:
        self._closed = True
        self._on_close()


def _tee(chunks: Iterable[bytes], sinks: list[Callable[[Iterator[bytes]], None]]) -> list[BaseException | None]:
    """Feed one stream to several consumers running in their own threads, with bounded buffering.

    A consumer that fails is dropped (the others go on); a source error aborts every consumer.
    """
    queues: list[queue.Queue] = [queue.Queue(maxsize=4) for _ in sinks]
    errors: list[BaseException | None] = [None] * len(sinks)
    alive = [True] * len(sinks)
    owner = retry.RETRIES.owner  # the image the consumers' retries are counted for

    def run(i: int) -> None:
        retry.RETRIES.bind(owner)
        try:
            sinks[i](_Feed(queues[i], lambda: alive.__setitem__(i, False)))
        except BaseException as exc:  # noqa: BLE001
            errors[i] = exc
        finally:
            alive[i] = False

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(sinks))]
    for th in threads:
        th.start()

    def put(i: int, item: object) -> None:
        while alive[i]:
            try:
                queues[i].put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    try:
        for chunk in chunks:
            for i in range(len(sinks)):
                put(i, chunk)
    except BaseException as exc:
        for i in range(len(sinks)):
            put(i, _Abort(exc))
        for th in threads:
            th.join()
        raise
    for i in range(len(sinks)):
        put(i, _END)
    for th in threads:
        th.join()
    return [e if e is not None else None for e in errors]
