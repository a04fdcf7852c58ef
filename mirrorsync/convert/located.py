"""The input file read as Go's YAML decoders read it, and the checks every input format shares, each failure or
note naming the input's file, line and field."""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import InputError
from ..registry import reference
from ..yamlsource import LocatedDocument, field_name, parse_documents
from .conversion import Conversion


def _raw(loader, node: yaml.Node, path: tuple, lines: dict, file: str) -> Any:
    """Scalars as the text written, as Go's YAML decoders hand them to a string field (``1.10`` stays ``1.10``);
    null and booleans by their resolved tag."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputError("mapping keys must be plain scalars", file=file,
                                 line=key_node.start_mark.line + 1, field=field_name(path))
            key = key_node.value
            if key in out:
                raise InputError(f"duplicate key {key!r}", file=file, line=key_node.start_mark.line + 1,
                                 field=field_name(path + (key,)))
            out[key] = _raw(loader, value_node, path + (key,), lines, file)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_raw(loader, item, path + (i,), lines, file) for i, item in enumerate(node.value)]
    if node.tag.endswith(":null"):
        return None
    if node.tag.endswith(":bool"):
        return node.value.lower() in ("true", "yes", "on")
    return node.value


def load(text: str, file: str) -> LocatedDocument:
    def convert(loader, node, index):
        lines: dict = {}
        return LocatedDocument(file, _raw(loader, node, (), lines, file), lines)

    docs = parse_documents(text, file, convert)
    if len(docs) != 1:
        raise InputError(f"expected exactly one YAML document, found {len(docs)}", file=file)
    return docs[0]


class Reader:
    """Reads one input document into a :class:`Conversion`: the checks and notes both formats share."""

    def __init__(self, doc: LocatedDocument, mirrors: list[str], insecure_mirror: bool, source_format: str) -> None:
        self.doc = doc
        self.out = Conversion(source_format, mirrors)
        if insecure_mirror:
            for m in mirrors:
                self.out.registries[m.partition("/")[0]] = {"tlsVerify": False}

    def fail(self, path: tuple, message: str) -> InputError:
        return self.doc.error(path, message)

    def note(self, path: tuple, message: str) -> None:
        line = self.doc.line(path) or 0
        where = f"{self.doc.file}:{line}" if line else self.doc.file
        self.out.notes.append((line, f"{where}: {field_name(path)}: {message}"))

    def mapping(self, value: Any, path: tuple) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, "must be a mapping")
        return value

    def string(self, value: Any, path: tuple) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, "must be a non-empty string")
        return value

    def ref(self, text: Any, path: tuple) -> reference.Reference:
        try:
            return reference.parse(self.string(text, path))
        except InputError as exc:
            raise self.fail(path, exc.message) from None
