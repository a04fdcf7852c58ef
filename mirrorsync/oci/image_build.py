"""A new image as one more layer on top of an existing one, built reproducibly and pushed to a content store.

The operator catalogs (their filtered FBC over the original catalog) and the update-graph image (the graph data
over a base image) are built this way. Everything is deterministic (tar entries with fixed metadata, gzip without
a time stamp, stable JSON), so the same input over the same base gives the same digest: a second run finds it on
the mirror and pushes nothing. The base image's layers are reused as they are, byte for byte; they must already be
in the target repository (the base is copied there first).
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import tarfile
from dataclasses import dataclass, field
from typing import Callable

from .content import DOCKER_MANIFEST, Descriptor, Manifest, parse_manifest
from .image_files import image_config
from .store import ContentStore

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def tar_entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    """A tar header owned by root (uid/gid 0) with mtime 0: the same bytes whenever the layer is built."""
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, 0, 0, 0
    info.uname = info.gname = "root"
    return info


def gzip_layer(tar_bytes: bytes) -> tuple[bytes, str]:
    """(the gzip'd layer, its diff_id): no time stamp in the gzip header, a fixed level."""
    return gzip.compress(tar_bytes, compresslevel=6, mtime=0), sha256(tar_bytes)


def stable_json(doc: dict) -> bytes:
    return json.dumps(doc, indent=3).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class NewLayer:
    """What goes on top of one image: the gzip'd layer and its diff_id, the history line, the new ``Cmd``."""

    blob: bytes
    diff_id: str
    created_by: str
    cmd: list[str] | None = None  # None: the image's own


@dataclass
class BuiltImage:
    """The new image: blobs to push (digest -> (media type, bytes)), child manifests, and the top manifest."""

    top: Manifest
    children: list[Manifest] = field(default_factory=list)
    blobs: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return self.top.digest


LayerFor = Callable[[dict], NewLayer]  # an image's config -> the layer to add on top of it


def build_over(store: ContentStore, repo: str, digest: str, layer_for: LayerFor) -> BuiltImage:
    """The image at ``digest`` in ``store``/``repo`` with ``layer_for(config)`` on top; for an index, on top of every
    platform's image, the index otherwise as it was (attestations and other entries that are no image stay)."""
    original = store.get_manifest(repo, digest)
    if not original.is_index:
        image, blobs = _add_layer(store, repo, original, layer_for)
        return BuiltImage(image, [], blobs)
    doc = json.loads(original.data)
    out = BuiltImage(original)
    for entry in doc.get("manifests") or []:
        child = store.get_manifest(repo, entry["digest"])
        if child.is_index or not child.blobs or (entry.get("platform") or {}).get("os") == "unknown":
            continue  # attestations and the like are no images to run
        image, blobs = _add_layer(store, repo, child, layer_for)
        out.blobs.update(blobs)
        out.children.append(image)
        entry["digest"], entry["size"] = image.digest, len(image.data)
    data = stable_json(doc)
    out.top = parse_manifest(data, original.media_type, sha256(data))
    return out


def _add_layer(store: ContentStore, repo: str, image: Manifest, layer_for: LayerFor) -> tuple[Manifest, dict]:
    config = image_config(store, repo, image)
    layer = layer_for(config)
    new_config = copy.deepcopy(config)
    new_config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(layer.diff_id)
    new_config.setdefault("history", []).append({"created_by": layer.created_by})
    if layer.cmd is not None:
        new_config.setdefault("config", {})["Cmd"] = list(layer.cmd)
    config_bytes = stable_json(new_config)
    doc = json.loads(image.data)
    layer_type = DOCKER_LAYER if image.media_type == DOCKER_MANIFEST else OCI_LAYER
    doc["config"] = {**doc["config"], "digest": sha256(config_bytes), "size": len(config_bytes)}
    doc.setdefault("layers", []).append({"mediaType": layer_type, "digest": sha256(layer.blob),
                                         "size": len(layer.blob)})
    data = stable_json(doc)
    blobs = {sha256(layer.blob): (layer_type, layer.blob),
             sha256(config_bytes): (doc["config"]["mediaType"], config_bytes)}
    return parse_manifest(data, image.media_type, sha256(data)), blobs


def push(store: ContentStore, repo: str, built: BuiltImage, tag: str) -> str:
    """Push ``built`` to ``store``/``repo`` and tag it; ``"up-to-date"`` when the tag already points at it (nothing
    is sent), else ``"pushed"``. Blobs first, children next, the tag last: the tag never names incomplete content."""
    have = store.manifest_descriptor(repo, tag)
    if have is not None and have.digest == built.digest:
        return "up-to-date"
    for digest, (media_type, data) in sorted(built.blobs.items()):
        if not store.has_blob(repo, digest):
            store.write_blob(repo, Descriptor(media_type, digest, len(data)), iter([data]))
    for child in built.children:
        store.put_manifest(repo, child.digest, child)
    store.put_manifest(repo, tag, built.top)
    return "pushed"
