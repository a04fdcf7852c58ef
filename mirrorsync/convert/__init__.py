"""``mirrorsync convert``: a sync manifest from another tool's configuration.

Reads a ``skopeo sync`` YAML source file (``skopeo sync --src yaml``, :mod:`.skopeo_sync`) or an oc-mirror
``ImageSetConfiguration`` (``mirror.openshift.io/v1alpha2`` or ``v2alpha1``, :mod:`.imageset`) and writes the
manifest that mirrors the same images. What has no equivalent becomes a comment at the top of the output naming the
input's file, line and field; nothing is dropped silently. Credentials in a skopeo sync file are never copied: a
manifest is not a place for secrets.
"""

from __future__ import annotations

from ..errors import InputError
from ..pipeline.sections import parse_manifest
from ..sync import manifest as manifest_mod
from ..yamlsource import read_text
from .conversion import Conversion
from .imageset import ISC_API_VERSIONS, ISC_KIND, ImageSet
from .located import load
from .skopeo_sync import SkopeoSync

__all__ = ["Conversion", "ISC_API_VERSIONS", "ISC_KIND", "convert"]


def convert(path: str, mirrors: list[str], *, insecure_mirror: bool = False, scoped: bool = False) -> str:
    """The manifest text for the skopeo sync file or ImageSetConfiguration at ``path``; ``InputError`` if the file
    is not one, or the result would not load."""
    if not mirrors:
        raise InputError("give at least one --mirror HOST[:PORT][/NAMESPACE]: neither a skopeo sync file nor an "
                         "ImageSetConfiguration names the mirrors", field="--mirror")
    for m in mirrors:
        try:
            manifest_mod._parse_mirror(m)
        except InputError as exc:
            raise InputError(exc.message, field="--mirror") from None
    doc = load(read_text(path), path)
    if not isinstance(doc.data, dict):
        raise doc.error((), "must be a mapping: a skopeo sync file or an ImageSetConfiguration")
    if doc.data.get("kind") == ISC_KIND:
        conversion = ImageSet(doc, list(mirrors), insecure_mirror, "oc-mirror ImageSetConfiguration "
                              f"{doc.data.get('apiVersion')}").convert()
    else:
        conversion = SkopeoSync(doc, list(mirrors), insecure_mirror, scoped).convert()
    text = conversion.render(path)
    try:
        parse_manifest(text, "<converted>")
    except InputError as exc:  # e.g. two repositories landing on one destination
        hint = "" if scoped or doc.data.get("kind") == ISC_KIND else \
            " (skopeo sync puts each repository at its last path component; --scoped keeps the whole name)"
        raise InputError(f"the converted manifest would not load: {exc}{hint}", file=path) from None
    return text
