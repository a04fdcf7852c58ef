"""The OpenShift mirror-set custom resources: ImageDigestMirrorSet, ImageTagMirrorSet, ImageContentSourcePolicy.

A small typed model of them, built from documents read by :mod:`.documents` (with file and line for every error).
The checks of the API server and the Machine Config Operator are in :mod:`.mco`; writing them as ``oc`` does is
in :mod:`.goyaml`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import linear_regex
from ..errors import InputError
from .documents import Document, documents_from_text, iter_input_files, line_of, load_documents

IDMS = "ImageDigestMirrorSet"
ITMS = "ImageTagMirrorSet"
ICSP = "ImageContentSourcePolicy"
KINDS = (IDMS, ITMS, ICSP)

API_VERSION = {IDMS: "config.openshift.io/v1", ITMS: "config.openshift.io/v1", ICSP: "operator.openshift.io/v1alpha1"}
SPEC_FIELD = {IDMS: "imageDigestMirrors", ITMS: "imageTagMirrors", ICSP: "repositoryDigestMirrors"}

NEVER_CONTACT_SOURCE = "NeverContactSource"
ALLOW_CONTACTING_SOURCE = "AllowContactingSource"
POLICIES = (NEVER_CONTACT_SOURCE, ALLOW_CONTACTING_SOURCE)

# Copied from the openAPIV3Schema of the IDMS/ITMS CRDs (openshift/api config/v1); the MCO re-checks every
# source and mirror (ICSP ones too, which have no pattern in their own CRD) with exactly these expressions.
_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_PORT = rf"({_LABEL}(?:(?:\.{_LABEL})+)?(?::[0-9]+)?)"
_PATH = r"(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?"
MIRROR_PATTERN = rf"^{_HOST_PORT}{_PATH}$"
SOURCE_PATTERN = rf"^\*(?:\.{_LABEL})+$|{MIRROR_PATTERN}"
# Run by RE2 as by Go's regexp (linear_regex): under Python's re the nested [-]* made a 33-character source
# ("h/", 30 letters, "!") take over 100 s. fullmatch as well: the patterns' own ^...$ alternatives do not
# bracket the whole SOURCE_PATTERN.
_SOURCE_RE = linear_regex.compile(SOURCE_PATTERN)
_MIRROR_RE = linear_regex.compile(MIRROR_PATTERN)


def is_valid_source(text: object) -> bool:
    """True if ``text`` is a valid ``source`` (``host[:port][/path]`` or ``*.host``) per the CRD pattern."""
    return isinstance(text, str) and _SOURCE_RE.fullmatch(text) is not None


def is_valid_mirror(text: object) -> bool:
    """True if ``text`` is a valid mirror (``host[:port][/path]``, never a wildcard) per the CRD pattern."""
    return isinstance(text, str) and _MIRROR_RE.fullmatch(text) is not None


@dataclass(frozen=True)
class MirrorEntry:
    """One ``source`` with its ``mirrors`` and ``mirrorSourcePolicy`` (None when unset, always None for ICSP)."""

    source: str
    mirrors: tuple[str, ...] = ()
    policy: str | None = None
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class MirrorSet:
    """One IDMS, ITMS or ICSP object, reduced to what the mirror configuration depends on."""

    kind: str
    name: str
    entries: tuple[MirrorEntry, ...] = ()
    file: str | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    @property
    def api_version(self) -> str:
        return API_VERSION[self.kind]

    @property
    def spec_field(self) -> str:
        return SPEC_FIELD[self.kind]

    def to_object(self) -> dict[str, Any]:
        """The Kubernetes object, with keys in the order the API documents them."""
        items: list[dict[str, Any]] = []
        for entry in self.entries:
            item: dict[str, Any] = {"source": entry.source}
            if entry.mirrors:
                item["mirrors"] = list(entry.mirrors)
            if entry.policy is not None:
                item["mirrorSourcePolicy"] = entry.policy
            items.append(item)
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": {"name": self.name},
                "spec": {self.spec_field: items}}


def _where(doc: Document, container: object, key: object = None, index: int | None = None) -> int | None:
    return line_of(container, key, index) or doc.line


def parse_mirror_set(doc: Document) -> MirrorSet:
    """Turn one document into a :class:`MirrorSet`; anything that is not a well-formed IDMS/ITMS/ICSP is an InputError.

    Checks types and structure only; the values are checked by :func:`validate_for_mco` and :func:`crd_problems`.
    """
    data = doc.data
    if not isinstance(data, dict):
        raise InputError("not a Kubernetes object (expected a mapping with apiVersion and kind)",
                         file=doc.file, line=doc.line)
    kind = data.get("kind")
    if kind not in KINDS:
        shown = f"kind {kind!r}" if isinstance(kind, str) else "no kind"
        raise InputError(f"{shown} is not one of {', '.join(KINDS)}", file=doc.file,
                         line=_where(doc, data, "kind"), field="kind")
    api_version = data.get("apiVersion")
    if api_version != API_VERSION[kind]:
        raise InputError(f"{kind} must have apiVersion {API_VERSION[kind]}, not {api_version!r}",
                         file=doc.file, line=_where(doc, data, "apiVersion"), field="apiVersion")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InputError("must be a mapping", file=doc.file, line=_where(doc, data, "metadata"), field="metadata")
    name = metadata.get("name", "")
    if not isinstance(name, str):
        raise InputError("must be a string", file=doc.file, line=_where(doc, metadata, "name"),
                         field="metadata.name")
    spec = data.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise InputError("must be a mapping", file=doc.file, line=_where(doc, data, "spec"), field="spec")
    spec_field = SPEC_FIELD[kind]
    raw_entries = spec.get(spec_field)
    if raw_entries is None:
        raw_entries = []
    if not isinstance(raw_entries, list):
        raise InputError("must be a list", file=doc.file, line=_where(doc, spec, spec_field),
                         field=f"spec.{spec_field}")
    entries = []
    for i, raw in enumerate(raw_entries):
        path = f"spec.{spec_field}[{i}]"
        line = _where(doc, raw_entries, index=i)
        if not isinstance(raw, dict):
            raise InputError("must be a mapping with source and mirrors", file=doc.file, line=line, field=path)
        if "source" not in raw:
            raise InputError("source is required", file=doc.file, line=line, field=path)
        source = raw["source"]
        if not isinstance(source, str):
            raise InputError("must be a string", file=doc.file, line=_where(doc, raw, "source"),
                             field=f"{path}.source")
        mirrors = raw.get("mirrors")
        if mirrors is None:
            mirrors = []
        if not isinstance(mirrors, list):
            raise InputError("must be a list", file=doc.file, line=_where(doc, raw, "mirrors"),
                             field=f"{path}.mirrors")
        for j, mirror in enumerate(mirrors):
            if not isinstance(mirror, str):
                raise InputError("must be a string", file=doc.file, line=_where(doc, mirrors, index=j),
                                 field=f"{path}.mirrors[{j}]")
        policy = raw.get("mirrorSourcePolicy")
        if kind == ICSP and policy is not None:
            # The ICSP API has no such field; the API server would silently drop it, so say so now.
            raise InputError("ImageContentSourcePolicy has no mirrorSourcePolicy (use an ImageDigestMirrorSet)",
                             file=doc.file, line=_where(doc, raw, "mirrorSourcePolicy"),
                             field=f"{path}.mirrorSourcePolicy")
        if policy is not None and not isinstance(policy, str):
            raise InputError("must be a string", file=doc.file, line=_where(doc, raw, "mirrorSourcePolicy"),
                             field=f"{path}.mirrorSourcePolicy")
        if policy == "":
            policy = None
        entries.append(MirrorEntry(source, tuple(mirrors), policy, line))
    return MirrorSet(kind, name, tuple(entries), doc.file, doc.line)


def load_mirror_sets(paths: Iterable[str | Path], *, require: bool = False) -> list[MirrorSet]:
    """Load every IDMS, ITMS and ICSP from files and directories, in file order.

    In a named file every document must be one of the three kinds. In a directory, objects of other kinds (such
    as the CatalogSources oc-mirror writes next to its mirror sets) are skipped; documents without a kind are not.
    With ``require``, a path that holds objects but none of the three kinds is an InputError (an empty directory is
    not: it holds no mirror sets).
    """
    sets: list[MirrorSet] = []
    for raw in paths:
        found = other = 0
        for path, explicit in iter_input_files([raw]):
            for doc in load_documents(path):
                kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
                if not explicit and isinstance(kind, str) and kind not in KINDS:
                    other += 1
                    continue
                sets.append(parse_mirror_set(doc))
                found += 1
        if require and other and not found:
            raise InputError(f"no {', '.join(KINDS)} here, only objects of other kinds", file=str(raw))
    return sets


def parse_mirror_sets(text: str, *, file: str) -> list[MirrorSet]:
    """The mirror sets of one text, such as a cluster export (``oc get imagedigestmirrorset,imagetagmirrorset,
    imagecontentsourcepolicy -o yaml``, a ``kind: List``): every object must be one of the three kinds. What the
    API server adds (``status``, ``metadata.managedFields``, ``resourceVersion``, ...) plays no part."""
    return [parse_mirror_set(doc) for doc in documents_from_text(text, file=file)]
