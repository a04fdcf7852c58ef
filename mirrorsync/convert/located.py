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


def load(text: str, file: str) -> tuple[LocatedDocument, int | None]:
    """The first YAML document of ``text``, and the line where the documents after it start (None if there are
    none): oc-mirror and skopeo sync decode the first document of a file and ignore the rest."""
    def convert(loader, node, index):
        lines: dict = {}
        return LocatedDocument(file, _raw(loader, node, (), lines, file), lines)

    docs = parse_documents(text, file, convert)
    if not docs:
        raise InputError("no YAML document: expected a skopeo sync file or an ImageSetConfiguration", file=file)
    if len(docs) == 1:
        return docs[0], None
    return docs[0], _separator_line(text, docs[1].line(()) or 1)


def _separator_line(text: str, content_line: int) -> int:
    """The ``---`` line that opens the document whose content starts at ``content_line``."""
    lines = text.splitlines()
    for n in range(min(content_line, len(lines)), 0, -1):
        if lines[n - 1].startswith("---"):
            return n
    return content_line


class Reader:
    """Reads one input document into a :class:`Conversion`: the checks and notes both formats share."""

    def __init__(self, doc: LocatedDocument, mirrors: list[str], insecure_mirror: bool, source_format: str) -> None:
        self.doc = doc
        self.out = Conversion(source_format, mirrors)
        if insecure_mirror:
            for m in mirrors:
                self.out.registries[m.partition("/")[0]] = {"tlsVerify": False}
                self.came_from(("registries", m.partition("/")[0]), None)

    def came_from(self, converted: tuple, source: tuple | None) -> None:
        """``converted`` (a path in the manifest written) holds what the input has at ``source``; None: what
        the command line gave (``--mirror``)."""
        self.out.origins[converted] = source

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
