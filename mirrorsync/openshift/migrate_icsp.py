"""``oc adm migrate icsp``: turn ImageContentSourcePolicy files into ImageDigestMirrorSet files.

Field for field what openshift/oc pkg/cli/admin/migrate/icsp writes: one output file per input file, one IDMS per
ICSP document, the ICSP's metadata (the ObjectMeta fields, empty ones and ``creationTimestamp`` left out), each
``source`` with its ``mirrors`` in order, an empty ``mirrors`` list omitted, no ``mirrorSourcePolicy``, no ``status``.
Unlike oc, every input is read and checked before anything is written, and each file is written atomically.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomicfile import write_atomic
from ..errors import InputError
from .crs import API_VERSION, ICSP, IDMS, SPEC_FIELD, parse_mirror_set
from .documents import Document, line_of, load_documents
from .goyaml import dump_yaml_documents

# metav1.ObjectMeta's JSON fields; the typed decoding in oc drops anything else.
_OBJECT_META_FIELDS = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                       "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
                       "ownerReferences", "finalizers", "managedFields")
_STRING_MAPS = ("labels", "annotations")


@dataclass(frozen=True)
class MigratedFile:
    """The IDMS documents made from one ICSP file; ``name`` is the first ICSP's, used in the output file name."""

    source: str
    name: str
    text: str

    def filename(self, suffix: int) -> str:
        """``imagedigestmirrorset_<name>.<digits>.yaml``, as oc names it (it uses a random 63-bit number)."""
        return f"imagedigestmirrorset_{self.name}.{suffix:06d}.yaml"


def _metadata(doc: Document) -> dict[str, Any]:
    raw = doc.data.get("metadata")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError("must be a mapping", file=doc.file, line=line_of(doc.data, "metadata") or doc.line,
                         field="metadata")
    meta: dict[str, Any] = {}
    for key in _OBJECT_META_FIELDS:
        value = raw.get(key)
        if value in (None, "", 0, [], {}) and not isinstance(value, bool):
            continue  # omitempty
        if key in _STRING_MAPS:
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise InputError("must be a mapping of strings to strings", file=doc.file,
                                 line=line_of(raw, key) or doc.line, field=f"metadata.{key}")
        meta[key] = value
    return meta


def icsp_to_idms(doc: Document) -> dict[str, Any]:
    """The ImageDigestMirrorSet object oc makes from one ImageContentSourcePolicy document."""
    data = doc.data
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind != ICSP or data.get("apiVersion") != API_VERSION[ICSP]:
        got = f"{kind} ({data.get('apiVersion')})" if isinstance(data, dict) else "something that is not an object"
        raise InputError(f"expected an ImageContentSourcePolicy ({API_VERSION[ICSP]}), got {got}", file=doc.file,
                         line=line_of(data, "kind") or doc.line, field="kind" if isinstance(data, dict) else None)
    metadata = _metadata(doc)
    icsp = parse_mirror_set(doc)
    mirrors = []
    for entry in icsp.entries:
        item: dict[str, Any] = {"source": entry.source}
        if entry.mirrors:
            item["mirrors"] = list(entry.mirrors)
        mirrors.append(item)
    return {"apiVersion": API_VERSION[IDMS], "kind": IDMS, "metadata": metadata,
            "spec": {SPEC_FIELD[IDMS]: mirrors}}


def migrate_icsp_file(path: str | Path) -> MigratedFile:
    """Convert every document of one file; anything that is not an ICSP is an InputError."""
    docs = load_documents(path)
    if not docs:
        raise InputError("no ImageContentSourcePolicy found", file=str(path))
    objs = [icsp_to_idms(doc) for doc in docs]
    name = objs[0]["metadata"].get("name", "")
    if not isinstance(name, str) or "/" in name or "\0" in name or name in (".", ".."):
        # The name becomes part of the output file name; Kubernetes names never contain these anyway.
        raise InputError(f"invalid name {name!r}", file=str(path), line=docs[0].line, field="metadata.name")
    return MigratedFile(str(path), name, dump_yaml_documents(objs))


def migrate_icsp(files: Sequence[str | Path], dest_dir: str | Path | None = None) -> list[str]:
    """Write one ``imagedigestmirrorset_<name>.<random digits>.yaml`` per input file into ``dest_dir``.

    ``dest_dir`` defaults to the current directory and is created if missing. Returns the written paths, in input
    order, spelled as oc prints them (the directory joined with the file name).
    """
    if not files:
        raise InputError("expects at least one argument, path to an imagecontentsourcepolicy file")
    dest = str(dest_dir) if dest_dir not in (None, "") else os.getcwd()
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise InputError(f'"{dest}" exists and is a file', field="--dest-dir")
    migrated = [migrate_icsp_file(f) for f in files]
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create directory: {exc.strerror or exc}", file=dest) from None
    written = []
    for item in migrated:
        path = os.path.join(dest, item.filename(secrets.randbelow(2**63)))
        try:
            write_atomic(path, item.text)
        except OSError as exc:
            raise InputError(f"error writing ImageDigestMirrorSet: {exc.strerror or exc}", file=path) from None
        written.append(path)
    return written
