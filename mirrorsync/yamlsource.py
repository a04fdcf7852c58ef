"""YAML loading that remembers where every value came from, so errors can name file, line and field."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import yaml

from . import linear_regex
from .errors import InputError

Path_ = tuple[Any, ...]


@dataclass
class LocatedDocument:
    """A parsed YAML document and the line of every node, keyed by its path (``("images", 0, "source")``)."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, path: Path_, message: str) -> InputError:
        return InputError(message, file=self.file, line=self.line(path), field=field_name(path))


def field_name(path: Path_) -> str | None:
    """``("images", 0, "source")`` -> ``images[0].source``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or None


# libyaml's parser when PyYAML has it (eight times faster on a 1000-image manifest), with the same safe constructor.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int], file: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise InputError("mapping keys must be plain scalars", file=file,
                                 line=key_node.start_mark.line + 1, field=field_name(path))
            if key in result:
                raise InputError(f"duplicate key {key!r}", file=file, line=key_node.start_mark.line + 1,
                                 field=field_name(path + (key,)))
            result[key] = _construct(loader, value_node, path + (key,), lines, file)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, path + (i,), lines, file) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


T = TypeVar("T")

# Values a document may expand to beyond one per character of its text: aliases repeat a node without repeating
# its text, so a few lines can stand for billions of values ("billion laughs"). Every reader of ours walks the
# expanded tree, so it is measured, without expanding it, before any of them starts.
_EXPANSION_ALLOWANCE = 100_000


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_: set[int], file: str) -> int:
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise InputError("invalid YAML: an alias refers to a node that contains it", file=file,
                         line=node.start_mark.line + 1)
    open_.add(key)
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes, open_, file) + _expanded_size(v, sizes, open_, file) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, sizes, open_, file) for item in node.value)
    open_.discard(key)
    sizes[key] = size
    return size


def parse_documents(text: str, file: str, convert: Callable[[Any, yaml.Node, int], T]) -> list[T]:
    """Parse every YAML document in ``text`` with ``convert(loader, node, index)``; empty documents are skipped.

    Every way YAML can be wrong (control characters, syntax, nesting too deep) becomes one ``InputError`` line
    naming ``file`` and, where known, the line.
    """
    bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if bad:  # control characters are refused before parsing starts
        raise InputError(f"invalid YAML: character U+{ord(bad.group()):04X} is not allowed", file=file,
                         line=text.count("\n", 0, bad.start()) + 1)
    loader = _Loader(text)
    out: list[T] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                limit = len(text) + _EXPANSION_ALLOWANCE
                if _expanded_size(node, {}, set(), file) > limit:
                    raise InputError(f"invalid YAML: its aliases expand to more than {limit} values", file=file,
                                     line=node.start_mark.line + 1)
                out.append(convert(loader, node, len(out)))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:  # the composer and converters recurse once per level of nesting
        raise InputError("invalid YAML: nested too deeply", file=file) from None
    finally:
        loader.dispose()
    return out


def load_documents(text: str, file: str) -> list[LocatedDocument]:
    """Parse every YAML document in ``text``, remembering the line of every value."""
    def convert(loader, node: yaml.Node, index: int) -> LocatedDocument:
        lines: dict[Path_, int] = {}
        data = _construct(loader, node, (), lines, file)
        return LocatedDocument(file, data, lines)

    return parse_documents(text, file, convert)


def base_dir(file: str | None) -> str:
    """The directory a file's relative paths are read from: the file's own, or the working directory for text
    that came from no file (``<manifest>``, ``<stdin>``)."""
    if file and not file.startswith("<"):
        return os.path.dirname(os.path.abspath(file))
    return os.getcwd()


def local_path(base: str, text: str) -> str:
    """``text`` (``~`` expanded) as an absolute path, read relative to ``base`` when it is relative."""
    return os.path.normpath(os.path.join(base, os.path.expanduser(text)))


def read_text(path: str) -> str:
    """Read a UTF-8 input file, turning OS and encoding problems into one-line input errors."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", file=path) from None
    except PermissionError:
        raise InputError("permission denied", file=path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=path) from None
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), file=path) from None


class Reader:
    """Typed access to a located document that raises ``InputError`` at the offending node."""

    def __init__(self, doc: LocatedDocument) -> None:
        self.doc = doc

    def fail(self, path: tuple, message: str) -> InputError:
        return self.doc.error(path, message)

    def mapping(self, value: Any, path: tuple, allowed: set[str]) -> dict:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a mapping, got {type_name(value)}")
        for key in value:
            if key not in allowed:
                raise self.fail(path + (key,), f"unknown field (allowed: {', '.join(sorted(allowed))})")
        return value

    def string(self, value: Any, path: tuple) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # YAML reads 4.10 as the number 4.1: never guess, ask for quotes
            raise self.fail(path, f"must be a string, got the number {value!r} (quote it: '{value}')")
        if not isinstance(value, str) or not value:
            raise self.fail(path, f"must be a non-empty string, got {type_name(value)}")
        return value

    def boolean(self, value: Any, path: tuple) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false, got {type_name(value)}")
        return value

    def string_list(self, value: Any, path: tuple) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(path, f"must be a list, got {type_name(value)}")
        return [self.string(item, path + (i,)) for i, item in enumerate(value)]

    def choice(self, value: Any, path: tuple, choices: tuple[str, ...]) -> str:
        value = self.string(value, path)
        if value not in choices:
            raise self.fail(path, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def regex(self, value: Any, path: tuple) -> str:
        value = self.string(value, path)
        try:
            linear_regex.compile(value)
        except linear_regex.RegexError as exc:
            raise self.fail(path, f"invalid regular expression {value!r} (RE2, Go's syntax): {exc}") from None
        return value

    def checked(self, path: tuple, fn, *args):
        """Run a validator that raises ``InputError`` without location, and locate its error here."""
        try:
            return fn(*args)
        except InputError as exc:
            raise self.fail(path, exc.message) from None


def type_name(value: Any) -> str:
    return {type(None): "null", dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
