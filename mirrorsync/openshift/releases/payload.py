"""What a release image names: ``release-manifests/image-references`` (its components) and
``release-manifests/release-metadata`` (its version and the versions it upgrades from), read by streaming its
layers (later layers win, whiteouts apply), as ``oc adm release extract`` and oc-mirror read them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from ...errors import MirrorsyncError, UnsupportedContent
from ...oci import image_files
from ...oci.store import ContentStore
from ...registry.reference import Reference, at, parse as parse_reference
from .bootimages import BOOT_IMAGES, kubevirt_images

IMAGE_REFERENCES = "release-manifests/image-references"
RELEASE_METADATA = "release-manifests/release-metadata"
ARCH_KEY = "release.openshift.io/architecture"
MAX_FILE_BYTES = 16 << 20  # a real image-references is ~200 KiB
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class PayloadError(MirrorsyncError):
    """A release image whose release-manifests/ cannot be used."""


@dataclass(frozen=True)
class Component:
    name: str  # the image-references tag name, such as ``cli`` or ``machine-config-operator``
    image: Reference  # where the release says it lives, by digest


@dataclass(frozen=True)
class Release:
    digest: str  # the release image's own (the index's, for a multi-arch release)
    version: str
    previous: tuple[str, ...]
    components: tuple[Component, ...]
    multi: bool  # a multi-arch payload (metadata architecture ``multi``)
    architecture: str  # of the image read (``amd64``...), from its config
    # read only when asked (kubevirt=True): CoreOS stream architecture (x86_64...) -> its KubeVirt disk image
    kubevirt: tuple[tuple[str, Reference], ...] = ()


def read(store: ContentStore, repo: str, ref: str, *, platform: str | None = None, where: str = "",
         kubevirt: bool = False) -> Release:
    """The release at ``repo``:``ref`` of ``store``; an index is read through its ``platform`` image (None:
    linux/amd64 where it has one, else its first: every image of a release carries the same files). With
    ``kubevirt``, also its KubeVirt disk images (from its boot-images manifest; none when it has no such file)."""
    where = where or at(f"{store.describe()}/{repo}", ref)
    if platform is None:
        top, image = image_files.any_platform_manifest(store, repo, ref)
    else:
        top, image = image_files.platform_manifest(store, repo, ref, platform)
    files = _release_files(store, repo, image, kubevirt)
    for name in (IMAGE_REFERENCES, RELEASE_METADATA):
        if name not in files:
            raise PayloadError(f"{where} is not a release image: it has no {name}")
    metadata = _json(files[RELEASE_METADATA], where, RELEASE_METADATA)
    if metadata.get("kind") != "cincinnati-metadata-v0" or not isinstance(metadata.get("version"), str):
        raise PayloadError(f"{where}: {RELEASE_METADATA} is not cincinnati-metadata-v0 with a version")
    previous = metadata.get("previous") or []
    if not isinstance(previous, list) or not all(isinstance(p, str) for p in previous):
        raise PayloadError(f"{where}: {RELEASE_METADATA}: previous must be a list of versions")
    extra = metadata.get("metadata") if isinstance(metadata.get("metadata"), dict) else {}
    try:
        arch = str(image_files.image_config(store, repo, image).get("architecture") or "")
    except UnsupportedContent:
        arch = ""
    disks = tuple(sorted(kubevirt_images(files[BOOT_IMAGES], where).items())) if BOOT_IMAGES in files else ()
    return Release(top.digest, metadata["version"], tuple(previous),
                   components(files[IMAGE_REFERENCES], where), extra.get(ARCH_KEY) == "multi", arch, disks)


def _release_files(store: ContentStore, repo: str, image, boot_images: bool = False) -> dict[str, bytes]:
    """The two files (and ``boot_images``, the boot-images manifest where there is one), from the top layer alone
    when it holds the two (``oc adm release new`` puts all of release-manifests/ there, and nothing below can
    override a file of the top layer): a release image's lower layers are its operating system, hundreds of MB the
    copy reads anyway. Otherwise from every layer."""
    names = (IMAGE_REFERENCES, RELEASE_METADATA) + ((BOOT_IMAGES,) if boot_images else ())

    def want(path: str) -> bool:
        return path in names

    limits = {"max_file_bytes": MAX_FILE_BYTES, "max_total_bytes": len(names) * MAX_FILE_BYTES}
    if len(image.blobs) > 2:
        files = image_files.read_files(store, repo, replace(image, blobs=image.blobs[:1] + image.blobs[-1:]), want,
                                       **limits)
        if IMAGE_REFERENCES in files and RELEASE_METADATA in files:
            return files
    return image_files.read_files(store, repo, image, want, **limits)


def components(data: bytes, where: str) -> tuple[Component, ...]:
    """The components of an image-references ImageStream; as ``oc``, refuses another kind and any image that is
    not by digest (mirroring by tag would not give the cluster what the release was built with)."""
    stream = _json(data, where, IMAGE_REFERENCES)
    if stream.get("kind") != "ImageStream" or stream.get("apiVersion") != "image.openshift.io/v1":
        raise PayloadError(f"{where}: {IMAGE_REFERENCES} is not an image.openshift.io/v1 ImageStream")
    tags = (stream.get("spec") or {}).get("tags") if isinstance(stream.get("spec"), dict) else None
    if not isinstance(tags, list):
        raise PayloadError(f"{where}: {IMAGE_REFERENCES} has no spec.tags list")
    out: dict[str, Component] = {}
    for i, tag in enumerate(tags):
        name = tag.get("name") if isinstance(tag, dict) else None
        source = tag.get("from") if isinstance(tag, dict) else None
        if not isinstance(name, str) or not name or not isinstance(source, dict):
            raise PayloadError(f"{where}: {IMAGE_REFERENCES}: spec.tags[{i}] has no name or from")
        if not _NAME.fullmatch(name):  # it becomes part of a tag on the mirrors
            raise PayloadError(f"{where}: {IMAGE_REFERENCES}: spec.tags[{i}]: {name!r} is not a component name")
        if source.get("kind") != "DockerImage":
            continue  # another ImageStreamTag: nothing to pull
        try:
            image = parse_reference(str(source.get("name") or ""))
        except MirrorsyncError as exc:
            raise PayloadError(f"{where}: {IMAGE_REFERENCES}: spec.tags[{i}] ({name}): {exc}") from None
        if not image.digest:
            raise PayloadError(f"{where}: {IMAGE_REFERENCES}: spec.tags[{i}] ({name}): {image} is not by digest")
        if name in out:
            raise PayloadError(f"{where}: {IMAGE_REFERENCES}: component {name!r} is listed twice")
        out[name] = Component(name, image)
    return tuple(out[n] for n in sorted(out))


def _json(data: bytes, where: str, name: str) -> dict:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise PayloadError(f"{where}: {name} is not JSON") from None
    if not isinstance(doc, dict):
        raise PayloadError(f"{where}: {name} is not a JSON object")
    return doc
