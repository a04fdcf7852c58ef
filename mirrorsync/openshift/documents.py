"""Reading Kubernetes object files (YAML or JSON, several documents each, ``kind: List`` expanded) with the line
of every mapping key and list item, so that an error names file, line and field."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..yamlsource import parse_documents, read_text
from .object_dirs import object_dir

LIST_KIND_SUFFIX = "List"
_YAML_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Document:
    """One YAML/JSON document, with where it came from (``line`` is 1-based, None when unknown)."""

    data: Any
    file: str
    line: int | None = None
    index: int = 0


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
    return documents_from_text(read_text(name), file=name)


def documents_from_text(text: str, *, file: str) -> list[Document]:
    """The documents of ``text`` read from ``file`` (JSON when its name ends in ``.json``, else YAML, which also
    reads the JSON of ``oc get -o json``); ``kind: List`` objects are expanded."""
    name = file
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
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inner = object_dir(path)
            try:
                children = sorted(inner.iterdir())
            except OSError as exc:
                raise InputError(f"cannot read directory: {exc.strerror or exc}", file=str(inner)) from None
            for child in children:
                if child.is_file() and child.name.endswith(_YAML_SUFFIXES) and not child.name.startswith("."):
                    yield child, False
        elif path.exists():
            yield path, True
        else:
            raise InputError("no such file or directory", file=str(path))
