"""Write tiny sample images straight into a ``docker-registry`` filesystem storage directory.

Pushing 10,000 images over HTTP costs the registry several requests each (minutes of its CPU on two cores); for
the bench's scale rows the images are written as files in the layout docker-registry 2.8's filesystem driver reads
(``docker/registry/v2/blobs`` and ``repositories/<name>/_layers``, ``_manifests/revisions``, ``_manifests/tags``),
and the registry serves them like pushed ones. Every image is one OCI manifest over one layer shared by all of
them and a config of its own (so every image has its own digest).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from devtools import samples


@dataclass(frozen=True)
class SeededImage:
    repository: str
    tag: str
    digest: str


class StorageWriter:
    """Writes blobs and repository links under ``root`` (a registry's ``storage.filesystem.rootdirectory``)."""

    def __init__(self, root: Path) -> None:
        self.v2 = root / "docker" / "registry" / "v2"
        self._blobs: set[str] = set()
        self._dirs: set[Path] = set()

    def _mkdir(self, path: Path) -> None:
        """``path`` and its parents, one ``mkdir`` per directory this writer has not made or seen yet."""
        if path in self._dirs:
            return
        if path.parent != path and path.parent not in self._dirs:
            self._mkdir(path.parent)
        try:
            os.mkdir(path)
        except FileExistsError:
            pass
        self._dirs.add(path)

    def blob(self, blob: samples.Blob) -> str:
        digest = blob.digest
        if digest not in self._blobs:
            hex_ = digest.split(":", 1)[1]
            path = self.v2 / "blobs" / "sha256" / hex_[:2] / hex_ / "data"
            self._mkdir(path.parent)
            path.write_bytes(blob.data)
            self._blobs.add(digest)
        return digest

    def link(self, repository: str, *parts: str, digest: str) -> None:
        path = self.v2.joinpath("repositories", repository, *parts, "link")
        self._mkdir(path.parent)
        path.write_text(digest)

    def layer(self, repository: str, blob: samples.Blob) -> None:
        digest = self.blob(blob)
        self.link(repository, "_layers", "sha256", digest.split(":", 1)[1], digest=digest)

    def manifest(self, repository: str, tag: str, manifest: samples.Blob) -> str:
        digest = self.blob(manifest)
        hex_ = digest.split(":", 1)[1]
        self.link(repository, "_manifests", "revisions", "sha256", hex_, digest=digest)
        self.link(repository, "_manifests", "tags", tag, "current", digest=digest)
        self.link(repository, "_manifests", "tags", tag, "index", "sha256", hex_, digest=digest)
        return digest


def seed_tiny_images(root: Path, *, repos: int, tags: int, prefix: str = "scale", seed: int = 1,
                     workers: int = 1) -> list[SeededImage]:
    """``repos`` repositories ``{prefix}/repo-N`` with ``tags`` tags ``vM`` each, written into storage ``root``;
    ``workers`` processes write disjoint ranges of repositories (the same files as one would)."""
    if workers <= 1 or repos < 2 * workers:
        return _seed_range(root, 1, repos + 1, tags, prefix, seed)
    step = -(-repos // workers)
    with ProcessPoolExecutor(workers) as pool:
        parts = [pool.submit(_seed_range, root, first, min(first + step, repos + 1), tags, prefix, seed)
                 for first in range(1, repos + 1, step)]
        return [img for part in parts for img in part.result()]


def _seed_range(root: Path, first: int, stop: int, tags: int, prefix: str, seed: int) -> list[SeededImage]:
    """Repositories ``first`` .. ``stop - 1`` (each worker writes the shared layer's blob too: the same bytes)."""
    writer = StorageWriter(root)
    platform = samples.Platform.parse("amd64")
    layer, diff_id = samples.make_layer(f"{seed}/scale-base", 1024)
    images = []
    for r in range(first, stop):
        repository = f"{prefix}/repo-{r}"
        writer.layer(repository, layer)
        for t in range(1, tags + 1):
            config = samples.make_config(platform, [diff_id], label=f"{repository}:v{t} seed {seed}")
            writer.layer(repository, config)
            digest = writer.manifest(repository, f"v{t}", samples.make_manifest(config, [layer]))
            images.append(SeededImage(repository, f"v{t}", digest))
    return images


def blob_bytes(root: Path) -> int:
    """The bytes of every blob in a storage directory."""
    blobs = root / "docker" / "registry" / "v2" / "blobs"
    return sum(os.path.getsize(p) for p in blobs.glob("sha256/*/*/data"))
