"""An in-memory content store for unit tests of the copy algorithm (integration tests use real registries)."""

from __future__ import annotations

import contextlib
import json
import threading

from mirrorsync.oci.content import OCI_INDEX, OCI_MANIFEST, Descriptor, Manifest, digest_of, parse_manifest, \
    sha256_digest, verified
from mirrorsync.errors import NotFound, RegistryError
from mirrorsync.oci.store import ABSENT, PRESENT, BlobReuse


class MemoryStore:
    def __init__(self, name: str = "mem") -> None:
        self.name = name
        self.blobs: dict[str, bytes] = {}
        self.repo_blobs: dict[str, set[str]] = {}
        self.manifests: dict[str, Manifest] = {}
        self.repo_manifests: dict[str, set[str]] = {}
        self.tags: dict[tuple[str, str], str] = {}
        self.log: list[tuple] = []  # every write, in order
        self.reads: list[str] = []  # blob digests read
        self.asked: list[tuple[str, str]] = []  # has_blob questions (repo, digest)
        self.fail_writes_to: set[str] = set()  # repos whose writes fail
        self.corrupt: set[str] = set()  # digests served with wrong bytes
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.name

    def close(self) -> None:
        pass

    def manifest_descriptor(self, repo, ref):
        digest = self.tags.get((repo, ref)) if ":" not in ref else ref
        if digest and digest in self.repo_manifests.get(repo, ()):
            m = self.manifests[digest]
            return Descriptor(m.media_type, m.digest, len(m.data))
        return None

    def get_manifest(self, repo, ref):
        desc = self.manifest_descriptor(repo, ref)
        if desc is None:
            raise NotFound(f"{self.name}/{repo}:{ref} not found")
        return self.manifests[desc.digest]

    def put_manifest(self, repo, ref, manifest):
        if repo in self.fail_writes_to:
            raise RegistryError(f"{self.name}/{repo}: write refused")
        for child in manifest.children:
            assert child.digest in self.repo_manifests.get(repo, ()), "child pushed after its parent"
        for blob in manifest.blobs:
            assert blob.digest in self.repo_blobs.get(repo, ()), "manifest pushed before its blobs"
        self.record_manifest(repo, ref, manifest)

    def record_manifest(self, repo, ref, manifest):
        """Hold ``manifest`` under ``ref`` (a tag, or its digest), as a registry does once it accepted it."""
        with self._lock:
            self.manifests[manifest.digest] = manifest
            self.repo_manifests.setdefault(repo, set()).add(manifest.digest)
            if ":" not in ref:
                self.tags[(repo, ref)] = manifest.digest
            self.log.append(("manifest", repo, ref))

    def list_tags(self, repo):
        return sorted(t for (r, t) in self.tags if r == repo)

    def has_blob(self, repo, digest):
        self.asked.append((repo, digest))
        return digest in self.repo_blobs.get(repo, ())

    @contextlib.contextmanager
    def read_blob(self, repo, desc):
        if desc.digest not in self.repo_blobs.get(repo, ()):
            raise NotFound(f"blob {desc.digest}")
        self.reads.append(desc.digest)
        data = self.blobs[desc.digest]
        if desc.digest in self.corrupt:
            data = bytes([data[0] ^ 1]) + data[1:]
        yield verified((data[i:i + 7] for i in range(0, len(data), 7)), desc.digest, desc.size, "blob")

    def write_blob(self, repo, desc, chunks, reopen=None):
        if repo in self.fail_writes_to:
            raise RegistryError(f"{self.name}/{repo}: write refused")
        data = b"".join(chunks)
        assert digest_of(data) == desc.digest
        with self._lock:
            self.blobs[desc.digest] = data
            self.repo_blobs.setdefault(repo, set()).add(desc.digest)
            self.log.append(("blob", repo, desc.digest))

    def try_reusing_blob(self, repo, digest, candidates=()):
        for other in candidates:
            if digest in self.repo_blobs.get(other, ()):
                with self._lock:
                    self.repo_blobs.setdefault(repo, set()).add(digest)
                    self.log.append(("mount", repo, digest))
                return BlobReuse(True, mounted_from=other)
        return PRESENT if self.has_blob(repo, digest) else ABSENT

    # helpers for tests
    def add_blob(self, repo: str, data: bytes) -> Descriptor:
        d = digest_of(data)
        self.blobs[d] = data
        self.repo_blobs.setdefault(repo, set()).add(d)
        return Descriptor("application/octet-stream", d, len(data))

    def add_manifest(self, repo: str, manifest: Manifest, tag: str | None = None) -> None:
        self.manifests[manifest.digest] = manifest
        self.repo_manifests.setdefault(repo, set()).add(manifest.digest)
        if tag:
            self.tags[(repo, tag)] = manifest.digest


def make_image(store: MemoryStore, repo: str, tag: str | None, arches=("amd64", "arm64"), shared: bytes = b"base"):
    """An index with a manifest per arch (their first layer ``shared`` by every image) stored in ``store``."""
    children = []
    for arch in arches:
        cfg = store.add_blob(repo, json.dumps({"architecture": arch}).encode())
        base = store.add_blob(repo, shared * 100)
        layer = store.add_blob(repo, f"{repo}-{tag}-{arch}".encode() * 50)
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "c", "digest": cfg.digest, "size": cfg.size},
                           "layers": [{"mediaType": "l", "digest": b.digest, "size": b.size} for b in (base, layer)]})
        m = parse_manifest(body.encode(), OCI_MANIFEST, sha256_digest(body.encode()))
        store.add_manifest(repo, m)
        children.append({"mediaType": OCI_MANIFEST, "digest": m.digest, "size": len(m.data),
                         "platform": {"os": "linux", "architecture": arch}})
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    index = parse_manifest(body, OCI_INDEX, sha256_digest(body))
    store.add_manifest(repo, index, tag)
    return index
