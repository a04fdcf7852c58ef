"""The tags skopeo sync's semver library (Masterminds/semver) reads as versions and mirrorsync's semver does not:
one or two numbers (``3``, ``3.7``, ``v3.7``), read as ``3.0.0`` and ``3.7.0``. :func:`short_tag_pattern` gives an
``include`` pattern that takes exactly those of them a range contains, so that a converted ``images-by-semver``
mirrors them too (the ``semver`` entry takes the ``MAJOR.MINOR.PATCH`` ones), whether the range names its versions
by two parts (``= 3.7``) or three (``>= 3.12.0`` takes the tag ``3.12``, as skopeo sync does)."""

from __future__ import annotations

import re

from ..sync.semver import Range

_ANY_NUMBER = r"(?:0|[1-9]\d*)"

Pair = tuple[int, int]


def short_tag_pattern(rng: Range) -> str | None:
    """A regular expression for the tags ``M`` and ``M.m`` (``v`` before them or not) whose version ``M.0.0`` or
    ``M.m.0`` is in ``rng``; None when no such tag can be."""
    intervals = [iv for comparators in rng.sets for iv in _intervals(comparators)]
    pairs = [p for lo, hi in intervals for p in _pairs(lo, hi)]
    singles = [s for lo, hi in intervals if (s := _numbers(lo[0] + (lo[1] > 0),
                                                           None if hi is None else hi[0] + (hi[1] > 0)))]
    alternatives = list(dict.fromkeys(pairs + singles))
    return f"^v?(?:{'|'.join(alternatives)})$" if alternatives else None


def _intervals(comparators) -> list[tuple[Pair, Pair | None]]:
    """The (MAJOR, MINOR) pairs whose ``M.m.0`` satisfies every comparator, as half-open intervals [lo, hi)."""
    lo: Pair = (0, 0)
    hi: Pair | None = None
    holes: list[Pair] = []
    for c in comparators:
        if c.version is None:
            continue
        a, b, p = c.version.release
        pre = bool(c.version.prerelease)
        # a release M.m.0 against a bound with a pre-release compares as against the bound's release from below
        if c.op == ">=" or (c.op == ">" and pre):
            low = (a, b) if p == 0 else (a, b + 1)
        elif c.op == ">":
            low = (a, b + 1)
        elif c.op in ("<", "<="):
            high = (a, b + 1) if p or (c.op == "<=" and not pre) else (a, b)
            hi = high if hi is None else min(hi, high)
            continue
        elif c.op == "=":
            if pre or p:  # no M.m.0 equals a version with a patch or a pre-release
                return []
            low = (a, b)
            hi = (a, b + 1) if hi is None else min(hi, (a, b + 1))
        else:  # !=
            if not pre and p == 0:
                holes.append((a, b))
            continue
        lo = max(lo, low)
    out = [(lo, hi)]
    for hole in sorted(set(holes)):  # an interval with a hole in it is the two intervals either side
        split = []
        for start, end in out:
            if start <= hole and (end is None or hole < end):
                split += [(start, hole), ((hole[0], hole[1] + 1), end)]
            else:
                split.append((start, end))
        out = split
    return [(start, end) for start, end in out if end is None or start < end]


def _pairs(lo: Pair, hi: Pair | None) -> list[str]:
    """``M.m`` patterns for the pairs in [lo, hi)."""
    if hi is not None and lo >= hi:
        return []
    (a, b) = lo
    if hi is not None and hi[0] == a:
        minors = _numbers(b, hi[1])
        return [rf"{a}\.{minors}"] if minors else []
    out = [rf"{a}\.{_numbers(b, None)}"]
    middle = _numbers(a + 1, None if hi is None else hi[0])
    if middle:
        out.append(rf"{middle}\.{_ANY_NUMBER}")
    if hi is not None and hi[1] > 0:
        out.append(rf"{hi[0]}\.{_numbers(0, hi[1])}")
    return out


def _numbers(low: int, high: int | None) -> str | None:
    """A pattern for the decimal numbers (no leading zeros) in [low, high), high None for no end."""
    if high is not None and low >= high:
        return None
    last = None if high is None else high - 1
    pieces: list[str] = []
    length = len(str(low))
    while True:
        start = max(low, 10 ** (length - 1) if length > 1 else 0)
        end = 10 ** length - 1
        if last is not None and last <= end:
            pieces += _same_length(str(start), str(last))
            break
        pieces += _same_length(str(start), str(end))
        if last is None:
            pieces.append(rf"[1-9]\d{{{length},}}")
            break
        length += 1
    return f"(?:{'|'.join(pieces)})"


def _same_length(lo: str, hi: str) -> list[str]:
    """Patterns for the numbers lo..hi (both included), written with the same number of digits."""
    if lo == hi:
        return [lo]
    if len(lo) == 1:
        return [f"[{lo}-{hi}]"]
    if lo[0] == hi[0]:
        return [lo[0] + p for p in _same_length(lo[1:], hi[1:])]
    rest = len(lo) - 1
    out: list[str] = []
    first, last = int(lo[0]), int(hi[0])
    if lo[1:] != "0" * rest:
        out += [lo[0] + p for p in _same_length(lo[1:], "9" * rest)]
        first += 1
    tail: list[str] = []
    if hi[1:] != "9" * rest:
        tail = [hi[0] + p for p in _same_length("0" * rest, hi[1:])]
        last -= 1
    if first <= last:
        out.append((str(first) if first == last else f"[{first}-{last}]") + rf"\d{{{rest}}}")
    return out + tail
