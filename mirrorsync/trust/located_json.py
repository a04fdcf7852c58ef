"""JSON that remembers the line of every value, as a :class:`~mirrorsync.yamlsource.LocatedDocument`, so that a
JSON input file (a containers-policy.json) reports its errors as ``FILE:LINE: FIELD: message`` like the manifest.

``json`` itself checks the syntax (its message names the line); a second pass over the text, which is then known to
be valid JSON, records where each value starts and refuses duplicate keys (as containers/image does).
"""

from __future__ import annotations

import bisect
import json
import re
from json.decoder import scanstring
from typing import Any

from ..errors import InputError
from ..yamlsource import LocatedDocument, Path_, field_name

_SPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERALS = {"true": True, "false": False, "null": None}


def parse(text: str, file: str) -> LocatedDocument:
    """``text`` as a located document; invalid JSON or a duplicate key is an ``InputError`` naming the line."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg} (column {exc.colno})", file=file, line=exc.lineno) from None
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply", file=file) from None
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    lines: dict[Path_, int] = {}

    def line_at(pos: int) -> int:
        return bisect.bisect_right(starts, pos)

    def value(pos: int, path: Path_) -> tuple[Any, int]:
        pos = _SPACE.match(text, pos).end()
        lines[path] = line_at(pos)
        c = text[pos]
        if c == "{":
            out: dict[str, Any] = {}
            pos = _SPACE.match(text, pos + 1).end()
            if text[pos] == "}":
                return out, pos + 1
            while True:
                key_pos = _SPACE.match(text, pos).end()
                key, pos = scanstring(text, key_pos + 1)
                if key in out:
                    raise InputError(f"duplicate key {key!r}", file=file, line=line_at(key_pos),
                                     field=field_name(path + (key,)))
                pos = _SPACE.match(text, pos).end() + 1  # the colon
                out[key], pos = value(pos, path + (key,))
                lines[path + (key,)] = line_at(key_pos)
                pos = _SPACE.match(text, pos).end()
                if text[pos] == "}":
                    return out, pos + 1
                pos += 1  # the comma
        if c == "[":
            items: list[Any] = []
            pos = _SPACE.match(text, pos + 1).end()
            if text[pos] == "]":
                return items, pos + 1
            while True:
                item, pos = value(pos, path + (len(items),))
                items.append(item)
                pos = _SPACE.match(text, pos).end()
                if text[pos] == "]":
                    return items, pos + 1
                pos += 1
        if c == '"':
            return scanstring(text, pos + 1)
        for word, literal in _LITERALS.items():
            if text.startswith(word, pos):
                return literal, pos + len(word)
        m = _NUMBER.match(text, pos)
        number = m.group()
        return (float(number) if any(ch in number for ch in ".eE") else int(number)), m.end()

    try:
        data, _ = value(0, ())
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply", file=file) from None
    return LocatedDocument(file, data, lines)
