"""The OpenShift mirror-set custom resources: ImageDigestMirrorSet, ImageTagMirrorSet, ImageContentSourcePolicy.

Loading them from YAML/JSON files (several documents per file, ``kind: List`` included), a small typed model,
the checks the API server applies from the CRD schemas, the refusals of the Machine Config Operator, and a
YAML writer that produces the same layout as the Go tools (``oc``) do.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..yamlsource import parse_documents, read_text

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
# fullmatch, not match: Python's "$" also matches before a trailing newline, Go's does not.
_SOURCE_RE = re.compile(SOURCE_PATTERN)
_MIRROR_RE = re.compile(MIRROR_PATTERN)

LIST_KIND_SUFFIX = "List"
_YAML_SUFFIXES = (".yaml", ".yml", ".json")


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


@dataclass(frozen=True)
class Document:
    """One YAML/JSON document, with where it came from (``line`` is 1-based, None when unknown)."""

    data: Any
    file: str
    line: int | None = None
    index: int = 0


# ---------------------------------------------------------------------------------------------------------------
# Reading YAML with line numbers

class _Map(dict):
    """A mapping that remembers the line it started on and the line of each key."""

    line: int | None = None
    key_lines: dict[Any, int]


class _Seq(list):
    """A sequence that remembers the line of each item."""

    line: int | None = None
    item_lines: list[int]


def line_of(value: object, key: object = None, index: int | None = None) -> int | None:
    """The source line of ``value`` (or of its ``key`` / item ``index``) when it was read from YAML."""
    if isinstance(value, _Map):
        if key is not None and key in value.key_lines:
            return value.key_lines[key]
        return value.line
    if isinstance(value, _Seq):
        if index is not None and 0 <= index < len(value.item_lines):
            return value.item_lines[index]
        return value.line
    return None


def _convert(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        mapping = _Map()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, loader)
            if isinstance(key, (dict, list)):
                raise InputError("mapping keys must be scalars", line=key_node.start_mark.line + 1)
            mapping[key] = _convert(value_node, loader)
            mapping.key_lines[key] = key_node.start_mark.line + 1
        return mapping
    if isinstance(node, yaml.SequenceNode):
        seq = _Seq(_convert(item, loader) for item in node.value)
        seq.line = node.start_mark.line + 1
        seq.item_lines = [item.start_mark.line + 1 for item in node.value]
        return seq
    # Timestamps stay text: Kubernetes treats them as strings, and migrate-icsp must write back what it read.
    if node.tag == "tag:yaml.org,2002:timestamp":
        return node.value
    return loader.construct_object(node, deep=True)


def parse_yaml_documents(text: str, *, file: str) -> list[Document]:
    """Split ``text`` into YAML documents (empty ones skipped), keeping line numbers."""
    def convert(loader, node: yaml.Node, index: int) -> Document:
        try:
            return Document(_convert(node, loader), file, node.start_mark.line + 1, index)
        except InputError as exc:
            raise InputError(exc.message, file=file, line=exc.line, field=exc.field) from None

    return [d for d in parse_documents(text, file, convert) if d.data is not None]


def load_documents(path: str | Path) -> list[Document]:
    """Read every document of one ``.yaml``/``.yml``/``.json`` file; ``kind: List`` objects are expanded."""
    name = str(path)
    text = read_text(name)
    if name.endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", file=name, line=exc.lineno) from None
        except RecursionError:
            raise InputError("invalid JSON: nested too deeply", file=name) from None
        docs = [Document(data, name, None, 0)] if data is not None else []
    else:
        docs = parse_yaml_documents(text, file=name)
    return list(_expand_lists(docs))


def _expand_lists(docs: Iterable[Document]) -> Iterator[Document]:
    # `oc get idms,itms -o yaml` writes one `kind: List`; a typed list is e.g. ImageDigestMirrorSetList.
    for doc in docs:
        data = doc.data
        if isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"].endswith(LIST_KIND_SUFFIX) \
                and "items" in data:
            items = data.get("items") or []
            if not isinstance(items, list):
                raise InputError("must be a list", file=doc.file, line=line_of(data, "items"), field="items")
            for i, item in enumerate(items):
                yield Document(item, doc.file, line_of(items, index=i) or doc.line, doc.index)
        else:
            yield doc


def iter_input_files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, bool]]:
    """Expand files and directories; yields ``(file, named_explicitly)``.

    A directory contributes its ``.yaml``/``.yml``/``.json`` files (not recursively), sorted by name; a mirrorsync
    output directory those of its ``cluster-resources/``.
    """
    from .cluster_resources import object_dir  # noqa: PLC0415 - it imports this module

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(object_dir(path).iterdir()):
                if child.is_file() and child.name.endswith(_YAML_SUFFIXES) and not child.name.startswith("."):
                    yield child, False
        elif path.exists():
            yield path, True
        else:
            raise InputError("no such file or directory", file=str(path))


# ---------------------------------------------------------------------------------------------------------------
# The typed model

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


def load_mirror_sets(paths: Iterable[str | Path]) -> list[MirrorSet]:
    """Load every IDMS, ITMS and ICSP from files and directories, in file order.

    In a named file every document must be one of the three kinds. In a directory, objects of other kinds (such
    as the CatalogSources oc-mirror writes next to its mirror sets) are skipped; documents without a kind are not.
    """
    sets: list[MirrorSet] = []
    for path, explicit in iter_input_files(paths):
        for doc in load_documents(path):
            kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
            if not explicit and isinstance(kind, str) and kind not in KINDS:
                continue
            sets.append(parse_mirror_set(doc))
    return sets


# ---------------------------------------------------------------------------------------------------------------
# Validation

def is_valid_scope(scope: object) -> bool:
    """MCO's check for an insecure/blocked registry scope: anything without ``*``, or ``*.host``."""
    if not isinstance(scope, str) or scope == "":
        return False
    if "*" not in scope:
        return True
    return scope.startswith("*.") and not any(c in scope[2:] for c in "/@:*")


def _ordered_for_mco(sets: Iterable[MirrorSet]) -> list[MirrorSet]:
    # The MCO appends the ICSPs (converted to IDMS) after the IDMS, and checks the ITMS last.
    sets = list(sets)
    return ([s for s in sets if s.kind == IDMS] + [s for s in sets if s.kind == ICSP]
            + [s for s in sets if s.kind == ITMS])


def _entry_error(message: str, ms: MirrorSet, index: int, suffix: str = "") -> InputError:
    entry = ms.entries[index]
    return InputError(message, file=ms.file, line=entry.line or ms.line,
                      field=f"{ms.kind} {ms.name or '<unnamed>'}: spec.{ms.spec_field}[{index}]{suffix}")


def validate_for_mco(sets: Iterable[MirrorSet], insecure: Sequence[str] = (), blocked: Sequence[str] = ()) -> None:
    """Refuse what the Machine Config Operator refuses, with its wording, in its order (first error wins).

    Scopes first (insecure, then blocked), then each IDMS entry, ICSP entry and ITMS entry: source format,
    a mirrorSourcePolicy differing from an earlier one for the same source (unset means AllowContactingSource,
    ICSP entries are unset), mirror format, and NeverContactSource with the source among its own mirrors.
    """
    for scope in insecure:
        if not is_valid_scope(scope):
            raise InputError(f"invalid entry for insecure registries {_go_quote(scope)}")
    for scope in blocked:
        if not is_valid_scope(scope):
            raise InputError(f"invalid entry for blocked registries {_go_quote(scope)}")
    seen_policy: dict[str, str] = {}
    for ms in _ordered_for_mco(sets):
        for i, entry in enumerate(ms.entries):
            if not is_valid_source(entry.source):
                raise _entry_error(f"invalid format for source {_go_quote(entry.source)}", ms, i, ".source")
            policy = entry.policy or ALLOW_CONTACTING_SOURCE
            earlier = seen_policy.setdefault(entry.source, policy)
            if earlier != policy:
                raise _entry_error(
                    f"conflicting mirrorSourcePolicy is set for the same source {_go_quote(entry.source)} in "
                    "imagedigestmirrorsets, imagetagmirrorsets, or imagecontentsourcepolicies", ms, i,
                    ".mirrorSourcePolicy")
            for j, mirror in enumerate(entry.mirrors):
                if not is_valid_mirror(mirror):
                    raise _entry_error(f"invalid format for mirror {_go_quote(mirror)}", ms, i, f".mirrors[{j}]")
                if policy == NEVER_CONTACT_SOURCE and mirror == entry.source:
                    raise _entry_error(
                        "cannot set mirrorSourcePolicy: NeverContactSource if the source "
                        f"{_go_quote(entry.source)} is one of the mirrors", ms, i, f".mirrors[{j}]")


def crd_problems(ms: MirrorSet) -> list[InputError]:
    """What the API server would reject in ``ms`` beyond the MCO's own checks (CRD schema rules).

    The policy enum, unique mirrors (``x-kubernetes-list-type: set``), the source/mirror patterns, and a name.
    """
    problems = []
    if not ms.name:
        problems.append(InputError("metadata.name is required", file=ms.file, line=ms.line,
                                   field=f"{ms.kind} <unnamed>"))
    for i, entry in enumerate(ms.entries):
        if ms.kind != ICSP:
            if not is_valid_source(entry.source):
                problems.append(_entry_error(f"invalid format for source {_go_quote(entry.source)}", ms, i,
                                             ".source"))
            for j, mirror in enumerate(entry.mirrors):
                if not is_valid_mirror(mirror):
                    problems.append(_entry_error(f"invalid format for mirror {_go_quote(mirror)}", ms, i,
                                                 f".mirrors[{j}]"))
            if len(set(entry.mirrors)) != len(entry.mirrors):
                problems.append(_entry_error("mirrors must not contain duplicates", ms, i, ".mirrors"))
        if entry.policy is not None and entry.policy not in POLICIES:
            problems.append(_entry_error(
                f"unsupported value {_go_quote(entry.policy)}: must be one of {', '.join(POLICIES)}", ms, i,
                ".mirrorSourcePolicy"))
    return problems


def _go_quote(text: str) -> str:
    """Format ``text`` like Go's ``%q`` does for the printable strings the MCO quotes."""
    return json.dumps(text, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------------------------
# Writing YAML the way Go's gopkg.in/yaml.v3 (as used by oc) does: sorted keys, four-space indent.

_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9/_.+=][A-Za-z0-9 /_.@%+=:,-]*$")
_NEEDS_QUOTES = re.compile(
    r"^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF"
    r"|[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|0x[0-9a-fA-F_]+|0o?[0-7_]+|0b[01_]+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*|=|<<)$")


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if (text and _PLAIN_SAFE.match(text) and not _NEEDS_QUOTES.match(text) and not text.endswith((" ", ":"))
            and ": " not in text and " #" not in text and not text.startswith("- ")):
        return text
    return json.dumps(text, ensure_ascii=False)


def _go_key_less(a: str, b: str) -> bool:
    """yaml.v3's keyList.Less for string keys: runs of digits compare as numbers, non-letters before letters."""
    digits = False
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            digits = ca.isdigit()
            continue
        al, bl = ca.isalpha(), cb.isalpha()
        if al and bl:
            return ca < cb
        if al or bl:
            return al if digits else bl
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdigit():
            an = an * 10 + ord(a[ai]) - ord("0")
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdigit():
            bn = bn * 10 + ord(b[bi]) - ord("0")
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


_GO_KEY_ORDER = functools.cmp_to_key(lambda a, b: -1 if _go_key_less(str(a), str(b)) else
                                     (1 if _go_key_less(str(b), str(a)) else 0))


def _emit_map(value: dict[Any, Any], key_indent: int, child_indent: int, out: list[str]) -> None:
    # yaml.v3 indents the children of a key relative to the enclosing block, not to the key itself: a mapping
    # that starts on a "- " line has its keys two columns in, but their children only four columns in.
    pad = " " * key_indent
    for key in sorted(value, key=_GO_KEY_ORDER):
        child = value[key]
        if isinstance(child, dict) and child:
            out.append(f"{pad}{_scalar(key)}:")
            _emit_map(child, child_indent, child_indent + 4, out)
        elif isinstance(child, list) and child:
            out.append(f"{pad}{_scalar(key)}:")
            _emit_list(child, child_indent, out)
        else:
            out.append(f"{pad}{_scalar(key)}: {_inline(child)}")


def _emit_list(value: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in value:
        nested: list[str] = []
        if isinstance(item, dict) and item:
            _emit_map(item, indent + 2, indent + 4, nested)
        elif isinstance(item, list) and item:
            _emit_list(item, indent + 2, nested)
        else:
            out.append(f"{pad}- {_inline(item)}")
            continue
        out.append(f"{pad}- {nested[0][indent + 2:]}")
        out.extend(nested[1:])


def _inline(value: object) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def dump_yaml(obj: dict[str, Any]) -> str:
    """One YAML document in yaml.v3 style (sorted keys, 4-space indent, ``- `` items indented under their key)."""
    out: list[str] = []
    _emit_map(obj, 0, 4, out)
    return "\n".join(out) + "\n"


def dump_yaml_documents(objs: Iterable[dict[str, Any]]) -> str:
    """Several documents separated by ``---`` lines, as ``oc adm migrate icsp`` joins them."""
    return "---\n".join(dump_yaml(obj) for obj in objs)
