"""index.json of an OCI layout as read from disk: parsed, and every descriptor checked as the lookups use it, so
that a hostile or broken one is one line of bad input rather than a traceback halfway through a copy."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError

REF_NAME = "org.opencontainers.image.ref.name"
INDEX_FILE = "index.json"


def read_index(layout: Path) -> tuple[dict, tuple[int, int, int]]:
    """index.json of the layout at ``layout``, and the (inode, mtime, size) it was read at."""
    path = layout / INDEX_FILE
    try:
        data = path.read_bytes()
        st = path.stat()
    except FileNotFoundError:
        raise InputError("not an OCI image layout (no index.json)", file=str(layout)) from None
    try:
        index = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"index.json is not JSON: {exc}", file=str(path)) from None
    if not isinstance(index, dict) or not isinstance(index.get("manifests", []), list):
        raise InputError("index.json is not an OCI image index", file=str(path))
    index.setdefault("manifests", [])
    for i, d in enumerate(index["manifests"]):
        _check_entry(d, f"manifests[{i}]", str(path))
    return index, (st.st_ino, st.st_mtime_ns, st.st_size)


def _check_entry(d: object, field: str, file: str) -> None:
    """An index.json descriptor as the lookups use it, or one ``InputError`` naming the field that is not."""
    if not isinstance(d, dict):
        raise InputError("must be an object (an OCI descriptor)", file=file, field=field)
    if not isinstance(d.get("digest"), str):
        raise InputError("must be a digest string", file=file, field=f"{field}.digest")
    size = d.get("size", 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InputError(f"must be a byte count, got {size!r}", file=file, field=f"{field}.size")
    if not isinstance(d.get("mediaType", ""), str):
        raise InputError("must be a string", file=file, field=f"{field}.mediaType")
    annotations = d.get("annotations") or {}
    if not isinstance(annotations, dict) or not isinstance(annotations.get(REF_NAME, ""), str):
        raise InputError(f"must be an object of strings ({REF_NAME})", file=file, field=f"{field}.annotations")
