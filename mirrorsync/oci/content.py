"""The content model: media types, descriptors, manifests, and digest checking while streaming."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterable, Iterator

from ..errors import DigestMismatch, UnsupportedContent

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
SCHEMA1_TYPES = (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED)
# Everything we can copy, most wanted first; schema 1 is listed last only so that we can recognise and refuse it
# with a clear message instead of letting the registry convert or 404.
ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1])

NON_DISTRIBUTABLE = ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                     "application/vnd.oci.image.layer.nondistributable.v1.tar",
                     "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                     "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: str | None = None
    urls: tuple[str, ...] = ()

    @property
    def foreign(self) -> bool:
        """A layer that lives outside registries (Windows base layers): never copied, as skopeo does."""
        return bool(self.urls) or self.media_type in NON_DISTRIBUTABLE


@dataclass(frozen=True)
class Manifest:
    """A manifest's exact bytes (digests are over bytes, so they are never re-serialised) and what it refers to."""

    data: bytes
    media_type: str
    digest: str
    children: tuple[Descriptor, ...] = ()  # manifests of an index
    blobs: tuple[Descriptor, ...] = ()  # config and layers of an image manifest
    subject: Descriptor | None = None

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


# The digest algorithms go-digest accepts (so the registry, containers/image and CRI-O), with their hex lengths.
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hasher(digest: str):
    algorithm = digest.partition(":")[0]
    if algorithm not in DIGEST_HEX_LENGTHS:
        raise UnsupportedContent(f"unsupported digest algorithm in {digest}")
    return hashlib.new(algorithm)


def digest_of(data: bytes, like: str = "sha256:") -> str:
    h = hasher(like)
    h.update(data)
    return f"{h.name}:{h.hexdigest()}"


def _descriptor(d: object, where: str) -> Descriptor:
    if not isinstance(d, dict) or not isinstance(d.get("digest"), str) or not isinstance(d.get("size"), int):
        raise UnsupportedContent(f"malformed descriptor in {where}")
    platform = d.get("platform")
    plat = None
    if isinstance(platform, dict):
        plat = "/".join(str(platform[k]) for k in ("os", "architecture", "variant") if platform.get(k))
    return Descriptor(str(d.get("mediaType", "")), d["digest"], d["size"], plat, tuple(d.get("urls") or ()))


def parse_manifest(data: bytes, media_type: str | None, digest: str) -> Manifest:
    """Parse manifest bytes into a ``Manifest``; refuses schema 1 and unknown types with a clear message."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise UnsupportedContent(f"manifest {digest} is not JSON") from None
    if not isinstance(doc, dict):
        raise UnsupportedContent(f"manifest {digest} is not a JSON object")
    mt = (media_type or "").split(";")[0].strip()
    if mt in ("", "application/json", "text/plain", "application/octet-stream"):
        mt = doc.get("mediaType") or ""
        if not mt:
            if doc.get("schemaVersion") == 1:
                mt = DOCKER_SCHEMA1
            elif "manifests" in doc:
                mt = OCI_INDEX
            elif "layers" in doc or "config" in doc:
                mt = OCI_MANIFEST
    if mt not in INDEX_TYPES and mt not in IMAGE_TYPES and not _manifest_like(mt):
        # a manifest served as text/html (a portal's error page, a captive proxy) must not be pushed as one
        raise UnsupportedContent(f"manifest {digest} is served as {mt!r}, which is not a manifest media type")
    if mt in SCHEMA1_TYPES or doc.get("schemaVersion") == 1:
        raise UnsupportedContent(f"manifest {digest} is Docker schema 1, which is deprecated and cannot keep its "
                                 "digest across registries; rebuild or re-push the image as schema 2 or OCI")
    subject = _descriptor(doc["subject"], digest) if isinstance(doc.get("subject"), dict) else None
    if mt in INDEX_TYPES:
        children = tuple(_descriptor(d, digest) for d in doc.get("manifests") or [])
        return Manifest(data, mt, digest, children=children, subject=subject)
    if mt in IMAGE_TYPES or "config" in doc or "layers" in doc:
        blobs = []
        if isinstance(doc.get("config"), dict):
            blobs.append(_descriptor(doc["config"], digest))
        blobs.extend(_descriptor(d, digest) for d in doc.get("layers") or [])
        return Manifest(data, mt, digest, blobs=tuple(blobs), subject=subject)
    raise UnsupportedContent(f"manifest {digest} has unsupported media type {mt or 'unknown'!r}")


def _manifest_like(media_type: str) -> bool:
    """Another JSON manifest type a registry may serve (schema 1, a vendor's ``application/vnd.…+json``); never
    ``text/…`` or a type without ``+json``."""
    return media_type in SCHEMA1_TYPES or (media_type.startswith("application/vnd.") and
                                           media_type.endswith(("+json", "+prettyjws")))


def verified(chunks: Iterable[bytes], digest: str, size: int | None, what: str) -> Iterator[bytes]:
    """Yield ``chunks`` while hashing them; the last chunk is held back until the whole digest is checked.

    Holding back the tail means a consumer that streams to a registry never completes an upload of bad bytes.
    """
    h = hasher(digest)
    seen = 0
    pending: bytes | None = None
    for chunk in chunks:
        if not chunk:
            continue
        h.update(chunk)
        seen += len(chunk)
        if size is not None and seen > size:
            raise DigestMismatch(f"{what}: more than the expected {size} bytes")
        if pending is not None:
            yield pending
        pending = chunk
    got = f"{digest.partition(':')[0]}:{h.hexdigest()}"
    if got != digest:
        raise DigestMismatch(f"{what}: content has digest {got}, expected {digest}")
    if size is not None and seen != size:
        raise DigestMismatch(f"{what}: got {seen} bytes, expected {size}")
    if pending is not None:
        yield pending
