"""``mirrorsync convert``: a sync manifest from another tool's configuration.

Reads a ``skopeo sync`` YAML source file (``skopeo sync --src yaml``, :mod:`.skopeo_sync`) or an oc-mirror
``ImageSetConfiguration`` (``mirror.openshift.io/v1alpha2`` or ``v2alpha1``, :mod:`.imageset`) and writes the
manifest that mirrors the same images. What has no equivalent becomes a comment at the top of the output naming the
input's file, line and field; nothing is dropped silently. Credentials in a skopeo sync file are never copied: a
manifest is not a place for secrets.
"""

from __future__ import annotations

import re
from typing import Callable

from ..errors import InputError
from ..pipeline.sections import parse_manifest
from ..sync import manifest as manifest_mod
from ..yamlsource import LocatedDocument, field_name, load_documents, read_text
from .conversion import Conversion
from .imageset import ISC_API_VERSIONS, ISC_KIND, ImageSet
from .located import load
from .skopeo_sync import SkopeoSync

__all__ = ["Conversion", "ISC_API_VERSIONS", "ISC_KIND", "convert"]


def convert(path: str, mirrors: list[str], *, insecure_mirror: bool = False, scoped: bool = False,
            warn: Callable[[str], None] | None = None) -> str:
    """The manifest text for the skopeo sync file or ImageSetConfiguration at ``path``; ``InputError`` if the file
    is not one, or the result would not load. ``warn`` is told, in one line, what of the file is ignored."""
    if not mirrors:
        raise InputError("give at least one --mirror HOST[:PORT][/NAMESPACE]: neither a skopeo sync file nor an "
                         "ImageSetConfiguration names the mirrors", field="--mirror")
    for m in mirrors:
        try:
            manifest_mod._parse_mirror(m)
        except InputError as exc:
            raise InputError(exc.message, field="--mirror") from None
    doc, more_from = load(read_text(path), path)
    if not isinstance(doc.data, dict):
        raise doc.error((), "must be a mapping: a skopeo sync file or an ImageSetConfiguration")
    image_set = doc.data.get("kind") == ISC_KIND
    if image_set:
        reader = ImageSet(doc, list(mirrors), insecure_mirror, "oc-mirror ImageSetConfiguration "
                          f"{doc.data.get('apiVersion')}")
    else:
        reader = SkopeoSync(doc, list(mirrors), insecure_mirror, scoped)
    if more_from is not None:
        # oc-mirror and skopeo sync decode a file's first YAML document and never look at the others
        ignored = (f"the YAML documents from this line on are ignored: {'oc-mirror' if image_set else 'skopeo sync'} "
                   f"reads the first document only")
        reader.out.notes.append((more_from, f"{path}:{more_from}: {ignored}"))
        if warn is not None:
            warn(f"{path}:{more_from}: {ignored}")
    conversion = reader.convert()
    text = conversion.render(path)
    try:
        parse_manifest(text, "<converted>")
    except InputError as exc:  # e.g. two repositories landing on one destination
        hint = "" if scoped or image_set else \
            " (skopeo sync puts each repository at its last path component; --scoped keeps the whole name)"
        raise _in_input(exc, text, conversion, doc, hint) from None
    return text


def _in_input(exc: InputError, text: str, conversion: Conversion, doc: LocatedDocument, hint: str) -> InputError:
    """The converted manifest's refusal, said of the input: its file, the line and field the refused value came
    from, and the images named by where they are in the input, not by their index in the converted text."""
    def image_named(m: re.Match) -> str:
        origin = conversion.origins.get(("images", int(m.group(1))))
        return field_name(origin) if origin else m.group(0)

    message = re.sub(r"\bimages\[(\d+)\]", image_named, exc.message)
    message = f"the converted manifest would not load: {message}{hint}"
    where = _converted_path(exc, text)
    for n in range(len(where), 0, -1):
        if where[:n] not in conversion.origins:
            continue
        origin = conversion.origins[where[:n]]
        if origin is None:
            return InputError(message, field="--mirror")
        rest = where[n:]
        while rest and origin + rest not in doc.lines:  # the input may say less than the converted text
            rest = rest[:-1]
        return doc.error(origin + rest, message)
    return InputError(message, file=doc.file)


def _converted_path(exc: InputError, text: str) -> tuple:
    """The path in the converted text the loader refused: the one its field names, else the deepest on its line."""
    converted = load_documents(text, "<converted>")[0]
    by_name = {field_name(p): p for p in converted.lines}
    if exc.field in by_name:
        return by_name[exc.field]
    on_line = [p for p, line in converted.lines.items() if line == exc.line]
    return max(on_line, key=len, default=())
