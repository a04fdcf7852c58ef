"""Writing YAML the way Go's gopkg.in/yaml.v3 (as used by ``oc``) does: sorted keys, four-space indent, so that
our CR files look like the ones the cluster's own tools write."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any


_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9/_.+=][A-Za-z0-9 /_.@%+=:,-]*$")
_NEEDS_QUOTES = re.compile(
    r"^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF"
    r"|[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|0x[0-9a-fA-F_]+|0o?[0-7_]+|0b[01_]+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*|=|<<)$")


def _scalar(value: object) -> str:
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return _string(str(value))


# A mirror-set file names each source and mirror several times (and _split renders each entry twice): the same
# strings come back, and quoting decisions are two regular expressions each.
@functools.lru_cache(maxsize=4096)
def _string(text: str) -> str:
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


@functools.lru_cache(maxsize=256)
def _sorted_keys(keys: tuple[Any, ...]) -> list[Any]:
    # CR objects repeat a few key sets thousands of times; yaml.v3's order is a Python-level comparison each time
    return sorted(keys, key=_GO_KEY_ORDER)


def _emit_map(value: dict[Any, Any], key_indent: int, child_indent: int, out: list[str]) -> None:
    # yaml.v3 indents the children of a key relative to the enclosing block, not to the key itself: a mapping
    # that starts on a "- " line has its keys two columns in, but their children only four columns in.
    pad = " " * key_indent
    for key in _sorted_keys(tuple(value)):
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
