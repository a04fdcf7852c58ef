"""One image (or index) in an OCI layout on disk, as a read-only content store: a catalog that ``opm``, ``skopeo
copy … oci:DIR`` or another tool wrote, which oc-mirror mirrors as ``oci:///path/to/layout``.

The layout is untrusted input, as a registry's answers are: index.json's entries are checked (they must name one
image), manifests are read up to the registry client's 4 MiB limit and against their digests, blobs are named only
by digests and read only from regular files, and every blob is checked against its descriptor's size and digest.
:meth:`ImageLayout.check` does all of that before a run asks for anything, so that a bad layout is one line naming
the file and the field at fault (exit 2), not a failed copy halfway through.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..errors import InputError, MirrorsyncError, UnsupportedContent
from ..oci.content import Descriptor, Manifest, parse_manifest, verified
from ..oci.store import ABSENT, PRESENT, BlobReuse
from ..registry.reference import is_digest
from .blob_files import blob_path, open_blob, read_manifest
from .index_file import INDEX_FILE, read_index

LAYOUT_FILE = "oci-layout"
CHUNK = 1 << 20


class ImageLayout:
    """The image of the layout at ``path``, under any repository name, by its digest or by ``tag``."""

    def __init__(self, path: str | os.PathLike[str], tag: str = "latest") -> None:
        self.path = Path(path)
        self.tag = tag
        self._top: Descriptor | None = None
        self._checked = False

    def __repr__(self) -> str:
        return f"ImageLayout({str(self.path)!r})"

    def describe(self) -> str:
        return f"oci://{self.path}"

    def close(self) -> None:
        pass

    # --- the one image index.json names --------------------------------------------------------------------------

    def top(self) -> Descriptor:
        """The descriptor index.json gives the image (``InputError`` naming index.json and the field at fault)."""
        if self._top is None:
            index_path = self.path / INDEX_FILE
            if not self.path.is_dir():
                raise InputError("no such directory (an OCI image layout with the catalog)", file=str(self.path))
            if not (self.path / LAYOUT_FILE).is_file():
                raise InputError(f"not an OCI image layout (no {LAYOUT_FILE} file)", file=str(self.path))
            index, _ = read_index(self.path)
            entries = index["manifests"]
            if not entries:
                raise InputError("names no image: the layout holds no catalog", file=str(index_path),
                                 field="manifests")
            first = entries[0]
            for i, d in enumerate(entries):
                if d["digest"] != first["digest"]:
                    raise InputError(f"names {d['digest']}, but manifests[0] names {first['digest']}: a catalog's "
                                     "layout holds one image (copy the one to mirror into a layout of its own)",
                                     file=str(index_path), field=f"manifests[{i}].digest")
                if d.get("size", 0) != first.get("size", 0):
                    raise InputError("differs from manifests[0].size for the same digest", file=str(index_path),
                                     field=f"manifests[{i}].size")
            try:
                blob_path(self.path, first["digest"])
            except MirrorsyncError as exc:
                raise InputError(str(exc), file=str(index_path), field="manifests[0].digest") from None
            self._top = Descriptor(str(first.get("mediaType") or ""), first["digest"], int(first.get("size", 0)))
        return self._top

    def check(self) -> None:
        """Every manifest and blob of the image read and checked against its descriptor (``InputError`` naming the
        file that holds the descriptor, the field, and what is wrong); once per store."""
        if self._checked:
            return
        manifest = self._checked_manifest(self.top(), str(self.path / INDEX_FILE), "manifests[0]")
        images = [manifest]
        if manifest.is_index:
            where = str(blob_path(self.path, manifest.digest))
            images = [self._checked_manifest(c, where, f"manifests[{j}]") for j, c in enumerate(manifest.children)]
            for j, image in enumerate(images):
                if image.is_index:
                    raise InputError("names an index inside the catalog's index, not a platform's image",
                                     file=where, field=f"manifests[{j}]")
        for image in images:
            where = str(blob_path(self.path, image.digest))
            for k, desc in enumerate(image.blobs):
                if not desc.foreign:
                    self._checked_blob(desc, where, "config" if k == 0 else f"layers[{k - 1}]")
        self._checked = True

    def _checked_manifest(self, desc: Descriptor, where: str, field: str) -> Manifest:
        try:
            path = blob_path(self.path, desc.digest)
            data = read_manifest(path, desc.digest, f"manifest {desc.digest}", str(path))
            if len(data) != desc.size:
                raise InputError(f"says {desc.size} bytes, but {path} has {len(data)}", file=where,
                                 field=f"{field}.size")
            return parse_manifest(data, desc.media_type or None, desc.digest)
        except InputError:
            raise
        except MirrorsyncError as exc:
            raise InputError(str(exc), file=where, field=f"{field}.digest") from None

    def _checked_blob(self, desc: Descriptor, where: str, field: str) -> None:
        try:
            with self.read_blob("", desc) as chunks:
                for _ in chunks:
                    pass
        except MirrorsyncError as exc:
            raise InputError(str(exc), file=where, field=f"{field}.digest") from None

    # --- the content-store interface ----------------------------------------------------------------------------

    def _digest_of(self, ref: str) -> str | None:
        if ref == self.tag:
            return self.top().digest
        return ref if is_digest(ref) else None

    def manifest_descriptor(self, repo: str, ref: str) -> Descriptor | None:
        digest = self._digest_of(ref)
        if digest is None:
            return None
        if digest == self.top().digest:
            return self.top()
        try:
            manifest = self.get_manifest(repo, digest)
        except MirrorsyncError:
            return None
        return Descriptor(manifest.media_type, digest, len(manifest.data))

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        digest = self._digest_of(ref)
        if digest is None:
            raise UnsupportedContent(f"{self.describe()} holds one image, tagged {self.tag}, not {ref!r}")
        path = blob_path(self.path, digest)
        data = read_manifest(path, digest, f"manifest {digest}", self.describe())
        top = self.top()
        return parse_manifest(data, top.media_type or None if digest == top.digest else None, digest)

    def put_manifest(self, repo: str, ref: str, manifest: Manifest) -> None:
        raise UnsupportedContent(f"{self.describe()} is read only")

    def list_tags(self, repo: str) -> list[str]:
        return [self.tag]

    def has_blob(self, repo: str, digest: str) -> bool:
        try:
            path = blob_path(self.path, digest)
        except MirrorsyncError:
            return False
        return path.is_file() and not path.is_symlink()

    def try_reusing_blob(self, repo: str, digest: str, candidates: Sequence[str] = ()) -> BlobReuse:
        return PRESENT if self.has_blob(repo, digest) else ABSENT

    @contextlib.contextmanager
    def read_blob(self, repo: str, desc: Descriptor) -> Iterator[Iterator[bytes]]:
        """A blob from its file, checked against ``desc`` (size and digest) as it is read."""
        path = blob_path(self.path, desc.digest)
        with open_blob(path) as f:
            yield verified(iter(lambda: f.read(CHUNK), b""), desc.digest, desc.size, f"blob {path}")

    def write_blob(self, repo: str, desc: Descriptor, chunks: Iterable[bytes], reopen: object = None) -> None:
        raise UnsupportedContent(f"{self.describe()} is read only")
