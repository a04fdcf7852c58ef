"""A release's KubeVirt disk images: ``release-manifests/0000_50_installer_coreos-bootimages.yaml`` is a ConfigMap
whose ``data.stream`` is the CoreOS stream JSON (coreos/stream-metadata-go's ``Stream``); each
``architectures.<arch>.images.kubevirt.digest-ref`` names the KubeVirt container disk by digest, as oc-mirror's
``kubeVirtContainer: true`` takes it. Architectures are the stream's names (``x86_64``, ``aarch64``...)."""

from __future__ import annotations

import json

import yaml

from ...errors import MirrorsyncError
from ...registry.reference import Reference, parse as parse_reference

BOOT_IMAGES = "release-manifests/0000_50_installer_coreos-bootimages.yaml"


class BootImagesError(MirrorsyncError):
    """A boot-images manifest that cannot be used."""


def kubevirt_images(data: bytes, where: str) -> dict[str, Reference]:
    """Stream architecture -> its KubeVirt disk image (by digest); architectures without one are left out."""
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError:
        raise BootImagesError(f"{where}: {BOOT_IMAGES} is not YAML") from None
    data_map = doc.get("data") if isinstance(doc, dict) and doc.get("kind") == "ConfigMap" else None
    stream_text = data_map.get("stream") if isinstance(data_map, dict) else None
    if not isinstance(stream_text, str):
        raise BootImagesError(f"{where}: {BOOT_IMAGES} is not a ConfigMap with data.stream")
    try:
        stream = json.loads(stream_text)
    except (ValueError, RecursionError):
        raise BootImagesError(f"{where}: {BOOT_IMAGES}: data.stream is not JSON") from None
    arches = stream.get("architectures") if isinstance(stream, dict) else None
    if not isinstance(arches, dict):
        raise BootImagesError(f"{where}: {BOOT_IMAGES}: data.stream has no architectures")
    out: dict[str, Reference] = {}
    for arch, entry in sorted(arches.items()):
        images = entry.get("images") if isinstance(entry, dict) else None
        kubevirt = images.get("kubevirt") if isinstance(images, dict) else None
        text = kubevirt.get("digest-ref") if isinstance(kubevirt, dict) else None
        if text is None:
            continue
        try:
            ref = parse_reference(str(text))
        except MirrorsyncError as exc:
            raise BootImagesError(f"{where}: {BOOT_IMAGES}: {arch}: kubevirt digest-ref: {exc}") from None
        if not ref.digest:
            raise BootImagesError(f"{where}: {BOOT_IMAGES}: {arch}: kubevirt digest-ref {ref} is not by digest")
        out[arch] = ref
    return out
