"""An OCI image layout on disk as a content store: what crosses an air gap, readable by ``skopeo copy oci:DIR:REF``.

One layout holds many source repositories. Each manifest a repository holds is an ``index.json`` entry whose
``org.opencontainers.image.ref.name`` is the full source reference — ``quay.io/ocp/release:v1`` for a tag,
``quay.io/ocp/release@sha256:…`` for a manifest stored by digest (digest-only images and the children of an
index). Both forms match the OCI ref.name grammar, which is what skopeo checks in ``oci:DIR:REF`` (it splits DIR
from REF at the first colon, so DIR itself must not contain one).

Blobs are shared by every repository (``blobs/sha256/<hex>``), so ``has_blob`` ignores the repository and there is
nothing to mount. Writes are crash-safe: a blob goes to a temporary file, is checked against its digest, fsync'd
and renamed; ``index.json`` is rewritten atomically under a lock that threads and other processes respect.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..atomicfile import write_atomic
from ..errors import InputError, NotFound
from ..oci.content import OCI_INDEX, Descriptor, Manifest, parse_manifest, verified
from ..oci.store import ABSENT, PRESENT, BlobReuse
from ..ocilayout.blob_files import HEX, blob_path, read_manifest
from ..ocilayout.index_file import INDEX_FILE, REF_NAME, read_index
from .checked_file import write_checked

LAYOUT_FILE = "oci-layout"
LOCK_FILE = ".index.lock"
LAYOUT_VERSION = "1.0.0"
CHUNK = 1 << 20
FLUSH_INTERVAL = 1.0  # seconds between index.json rewrites while manifests are being put

# The OCI image-spec ref.name grammar; skopeo 1.9.3 refuses oci:DIR:REF when REF does not match it.
_ALNUM = r"[A-Za-z0-9]+"
_COMPONENT = rf"{_ALNUM}(?:(?:[-._:@+]|--){_ALNUM})*"
REF_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")


def ref_name(repo: str, ref: str) -> str:
    """The ``ref.name`` of ``repo`` at a tag (``repo:tag``) or a digest (``repo@sha256:…``)."""
    return f"{repo}@{ref}" if ":" in ref else f"{repo}:{ref}"


def split_ref_name(name: str) -> tuple[str, str]:
    """``repo:tag`` or ``repo@digest`` back into (repository, tag or digest).

    Tags never contain ``:`` or ``/``, so the last colon separates the tag even when the host has a port.
    """
    if "@" in name:
        repo, _, digest = name.rpartition("@")
        return repo, digest
    repo, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        raise ValueError(f"not a repository reference: {name!r}")
    return repo, tag


class OCILayout:
    """A content store over an OCI image layout directory (created on first write when ``create`` is true)."""


    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._index: dict | None = None
        self._index_stamp: tuple[int, int, int] | None = None
        self._by_name: dict[str, dict] = {}
        self._by_digest: dict[str, set[str]] = {}
        self._unnamed: list[dict] = []
        self._pending: dict[str, dict] = {}
        self._flushed_at = time.monotonic()
        if create:
            self._init()
        elif not (self.path / LAYOUT_FILE).is_file() or not (self.path / INDEX_FILE).is_file():
            raise InputError("not an OCI image layout (no oci-layout and index.json)", file=str(self.path))

    def __repr__(self) -> str:
        return f"OCILayout({str(self.path)!r})"

    def describe(self) -> str:
        return f"oci:{self.path}"

    def close(self) -> None:
        """Flush index.json; the layout stays usable."""
        self.flush()

    def _init(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        with self._file_lock():
            if not (self.path / LAYOUT_FILE).exists():
                write_atomic(self.path / LAYOUT_FILE, json.dumps({"imageLayoutVersion": LAYOUT_VERSION}))
            if not (self.path / INDEX_FILE).exists():
                write_atomic(self.path / INDEX_FILE, _index_json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                                  "manifests": []}))

    # --- paths and the index --------------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return blob_path(self.path, digest)

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Exclusive across processes (flock) and threads (flock is per open file, so one fd per holder)."""
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read_index(self) -> dict:
        """index.json as on disk, parsed and checked (call with ``self._lock`` held)."""
        index, self._index_stamp = read_index(self.path)
        return index

    def _view(self) -> dict[str, dict]:
        """Entries by ref.name: index.json (re-read when another writer changed it) with our unflushed ones on top.

        Call with ``self._lock`` held. Lookups are dictionary hits, not scans: a layout can hold many thousands.
        """
        path = self.path / INDEX_FILE
        try:
            st = path.stat()
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if self._index is None or stamp != self._index_stamp:
            self._index = self._read_index()
            self._by_name = {}
            self._unnamed = []
            for d in self._index["manifests"]:
                name = (d.get("annotations") or {}).get(REF_NAME)
                if name:
                    self._by_name[name] = d
                else:
                    self._unnamed.append(d)
            self._by_name.update(self._pending)
            self._by_digest = {}
            for name, d in self._by_name.items():
                self._by_digest.setdefault(d.get("digest", ""), set()).add(name)
        return self._by_name

    def entries(self) -> list[dict]:
        """The descriptors of index.json (copies), unflushed ones included."""
        with self._lock:
            view = self._view()
            return [dict(d) for d in self._unnamed] + [dict(d) for d in view.values()]

    def refs(self) -> dict[str, str]:
        """Every ``ref.name`` in the index and the digest it names."""
        with self._lock:
            return {name: d.get("digest", "") for name, d in self._view().items()}

    def _entry(self, name: str) -> dict | None:
        with self._lock:
            return self._view().get(name)

    def _names_of(self, digest: str) -> set[str]:
        with self._lock:
            self._view()
            return set(self._by_digest.get(digest, ()))

    def _set_entry(self, name: str, manifest: Manifest) -> None:
        entry = {"mediaType": manifest.media_type, "digest": manifest.digest, "size": len(manifest.data),
                 "annotations": {REF_NAME: name}}
        with self._lock:
            view = self._view()
            old = view.get(name)
            if old is not None:
                self._by_digest.get(old.get("digest", ""), set()).discard(name)
            view[name] = entry
            self._by_digest.setdefault(manifest.digest, set()).add(name)
            self._pending[name] = entry
            # Rewriting index.json for every manifest would be quadratic in a large export; a crash loses at most
            # the last second of entries, and a resumed copy re-puts those manifests (their blobs are on disk).
            if time.monotonic() - self._flushed_at >= FLUSH_INTERVAL:
                self._flush()

    def flush(self) -> None:
        """Write unflushed entries to index.json (merged with what other writers put there meanwhile)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        self._flushed_at = time.monotonic()
        if not self._pending:
            return
        with self._file_lock():
            index = self._read_index()
            kept = [d for d in index["manifests"] if (d.get("annotations") or {}).get(REF_NAME) not in self._pending]
            index["manifests"] = kept + list(self._pending.values())
            write_atomic(self.path / INDEX_FILE, _index_json(index))
            self._pending = {}
            self._index = None  # re-read (cheaply, once) on the next lookup: other writers' entries too

    # --- manifests ------------------------------------------------------------------------------------------------

    def manifest_descriptor(self, repo: str, ref: str) -> Descriptor | None:
        """The entry for ``repo`` at ``ref``; a digest counts when any entry of ``repo`` names it."""
        d = self._entry(ref_name(repo, ref))
        if d is None and ":" in ref:
            name = next((n for n in sorted(self._names_of(ref)) if n.startswith(repo + ":")), None)
            d = self._entry(name) if name else None
        if d is None or not self.blob_path(d["digest"]).is_file():
            return None
        return Descriptor(d.get("mediaType", ""), d["digest"], int(d.get("size", 0)))

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """A manifest by tag (from index.json) or by digest (from the blobs, whichever repository stored it)."""
        if ":" in ref:
            digest, media_type = ref, None
            entry = self._entry(ref_name(repo, ref))
            if entry:
                media_type = entry.get("mediaType")
        else:
            entry = self._entry(ref_name(repo, ref))
            if entry is None:
                raise NotFound(f"{ref_name(repo, ref)} is not in {self.describe()}")
            digest, media_type = entry["digest"], entry.get("mediaType")
        try:
            # a layout from across the gap is no more trusted than a registry
            data = read_manifest(self.blob_path(digest), digest, f"manifest {digest} of {repo}", self.describe())
        except NotFound:
            raise NotFound(f"manifest {digest} of {repo} is not in {self.describe()}") from None
        return parse_manifest(data, media_type, digest)

    def put_manifest(self, repo: str, ref: str, manifest: Manifest) -> None:
        """Store the manifest's bytes as a blob and name it in index.json (``repo:tag`` or ``repo@digest``)."""
        path = self.blob_path(manifest.digest)
        if not path.is_file():
            write_checked(path, [manifest.data], manifest.digest, len(manifest.data))
        self._set_entry(ref_name(repo, ref), manifest)

    def list_tags(self, repo: str) -> list[str]:
        """The tags of ``repo`` named in index.json."""
        tags = []
        for name in self.refs():
            if "@" in name:
                continue
            with contextlib.suppress(ValueError):
                r, tag = split_ref_name(name)
                if r == repo:
                    tags.append(tag)
        return sorted(tags)

    def repositories(self) -> list[str]:
        """Every repository named in index.json."""
        repos = set()
        for name in self.refs():
            with contextlib.suppress(ValueError):
                repos.add(split_ref_name(name)[0])
        return sorted(repos)

    # --- blobs ----------------------------------------------------------------------------------------------------

    def has_blob(self, repo: str, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def blob_digests(self) -> list[str]:
        """Every blob file in the layout (manifests included), as digests."""
        out = []
        for algorithm_dir in sorted((self.path / "blobs").iterdir()):
            if algorithm_dir.is_dir():
                out += [f"{algorithm_dir.name}:{p.name}" for p in sorted(algorithm_dir.iterdir())
                        if HEX.match(p.name)]
        return out

    @contextlib.contextmanager
    def read_blob(self, repo: str, desc: Descriptor) -> Iterator[Iterator[bytes]]:
        """Stream a blob from its file, checked against ``desc`` as it is read."""
        path = self.blob_path(desc.digest)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {desc.digest} is not in {self.describe()}") from None
        try:
            yield verified(iter(lambda: f.read(CHUNK), b""), desc.digest, desc.size, f"blob {path}")
        finally:
            f.close()

    def write_blob(self, repo: str, desc: Descriptor, chunks: Iterable[bytes], reopen: object = None) -> None:
        """Write a blob through a temporary file; it appears under its digest only once complete and correct.
        (A local write does not break halfway the way an upload does: ``reopen`` is not needed.)"""
        write_checked(self.blob_path(desc.digest), chunks, desc.digest, desc.size)

    def try_reusing_blob(self, repo: str, digest: str, candidates: Sequence[str] = ()) -> BlobReuse:
        """A layout's blobs are every repository's already: there is nothing to mount."""
        return PRESENT if self.has_blob(repo, digest) else ABSENT


def _index_json(index: dict) -> str:
    return json.dumps(index, indent=2) + "\n"
