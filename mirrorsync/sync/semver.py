"""Semantic versions of tags and the node-semver range grammar, for selecting tags by version.

Versions are SemVer 2.0.0 ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``, with a leading ``v`` accepted (``v1.2.3``);
anything else (``latest``, ``1.2``, ``1.02.0``) is not a version. Ranges follow node-semver (the grammar npm, Helm
and Masterminds users write): comparators ``< <= > >= =`` (and Masterminds' ``!=``) joined by spaces (or commas)
as AND and ``||`` as OR, partial versions (``>=1.2`` is ``>=1.2.0``), x-ranges ``1.2.x``/``1.*``/``*``, hyphen
ranges ``1.2 - 1.4``, tilde ``~1.2`` and caret ``^1.2``. A pre-release version only satisfies a range whose own
comparators name a pre-release on the same ``MAJOR.MINOR.PATCH`` (node-semver's rule), so ``>=1.2`` never takes
``1.3.0-rc.1``, while ``>=1.3.0-rc.0`` does.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from functools import total_ordering

from ..errors import InputError

_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION = re.compile(rf"v?({_NUM})\.({_NUM})\.({_NUM})(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?(?:\+({_BUILD}))?")
_XR = rf"(?:[xX*]|{_NUM})"
_PARTIAL = re.compile(rf"[vV]?=?({_XR})(?:\.({_XR})(?:\.({_XR})(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?"
                      rf"(?:\+({_BUILD}))?)?)?")
_COMPARATOR = re.compile(r"(~>|<=|>=|!=|[<>=~^])?(.*)")


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()
    # the sort key, made once: sorting and range tests compare it millions of times on a large tag list
    key: tuple = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # a release sorts after its pre-releases; numeric identifiers sort before alphanumeric ones
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        object.__setattr__(self, "key", (self.release, not self.prerelease, pre))

    @classmethod
    def parse(cls, text: str) -> Version | None:
        """The version a tag names, or None when it names none."""
        m = _VERSION.fullmatch(text)
        if not m:
            return None
        pre = tuple(int(p) if p.isdigit() else p for p in m.group(4).split(".")) if m.group(4) else ()
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre)

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __lt__(self, other: Version) -> bool:
        return self.key < other.key

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return text + ("-" + ".".join(str(p) for p in self.prerelease) if self.prerelease else "")


_ANY = None  # the comparator ">=0.0.0" that '*' and '' stand for
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq,
        "!=": operator.ne}


@dataclass(frozen=True)
class _Comparator:
    op: str  # < <= > >= = !=
    version: Version | None  # None: any version at all

    def test(self, v: Version) -> bool:
        if self.version is None:
            return True
        return _OPS[self.op](v.key, self.version.key)


@dataclass(frozen=True)
class Range:
    """A parsed range: ``text`` as written, and its comparator sets (OR of ANDs)."""

    text: str
    sets: tuple[tuple[_Comparator, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Range:
        """Parse ``text``; raises ``InputError`` (without location) when it is not a range."""
        if not isinstance(text, str) or not text.strip():
            raise InputError("must be a version range such as '>=1.2 <2', '~1.4' or '^2'")
        sets = tuple(_parse_set(part.strip(), text) for part in text.split("||"))
        return cls(text, sets)

    def __contains__(self, v: Version) -> bool:
        return self.allows(v) and self.allows_prerelease(v)

    def allows(self, v: Version) -> bool:
        """Whether ``v`` is within the bounds of the range, leaving the pre-release rule aside."""
        return any(all(c.test(v) for c in s) for s in self.sets)

    def allows_prerelease(self, v: Version) -> bool:
        """Whether the pre-release rule lets ``v`` in: a release always, a pre-release only through a comparator set
        it satisfies that names a pre-release of the same MAJOR.MINOR.PATCH."""
        if not v.prerelease:
            return True
        return any(all(c.test(v) for c in s) and any(c.version is not None and c.version.prerelease
                                                      and c.version.release == v.release for c in s)
                   for s in self.sets)

    def __str__(self) -> str:
        return self.text


def _bad(text: str, why: str) -> InputError:
    return InputError(f"invalid version range {text!r}: {why}")


def _partial(token: str, text: str) -> tuple[int | None, int | None, int | None, tuple]:
    """``1.2.x`` -> (1, 2, None, ()); ``*`` -> (None, None, None, ())."""
    m = _PARTIAL.fullmatch(token)
    if not m:
        raise _bad(text, f"{token!r} is not a version (MAJOR[.MINOR[.PATCH[-PRERELEASE]]], x or * for any)")
    parts = [None if g is None or g in "xX*" else int(g) for g in m.group(1, 2, 3)]
    for i in (1, 2):  # after a wildcard every later part is a wildcard too
        if parts[i - 1] is None:
            parts[i] = None
    pre = tuple(int(p) if p.isdigit() else p for p in m.group(4).split(".")) if m.group(4) else ()
    return parts[0], parts[1], parts[2], pre


def _v(major: int, minor: int, patch: int, pre: tuple = ()) -> Version:
    return Version(major, minor, patch, pre)


_LOWEST = (0,)  # the "-0" pre-release: below every other pre-release of the same MAJOR.MINOR.PATCH


def _parse_set(part: str, text: str) -> tuple[_Comparator, ...]:
    part = part.replace(",", " ")
    tokens = re.sub(r"(~>|<=|>=|!=|[<>=~^])\s+", r"\1", part).split()
    if not tokens:
        return (_Comparator(">=", _ANY),)
    if len(tokens) == 3 and tokens[1] == "-":
        return _hyphen(tokens[0], tokens[2], text)
    out: list[_Comparator] = []
    for token in tokens:
        m = _COMPARATOR.fullmatch(token)
        op, rest = m.group(1) or "", m.group(2)
        if not rest:
            raise _bad(text, f"{op!r} needs a version after it")
        out += _comparators(op, _partial(rest, text), text)
    return tuple(out)


def _hyphen(low: str, high: str, text: str) -> tuple[_Comparator, ...]:
    out = []
    M, m, p, pre = _partial(low, text)
    if M is not None:
        out.append(_Comparator(">=", _v(M, m or 0, p or 0, pre if p is not None else ())))
    M, m, p, pre = _partial(high, text)
    if M is None:
        pass
    elif m is None:
        out.append(_Comparator("<", _v(M + 1, 0, 0, _LOWEST)))
    elif p is None:
        out.append(_Comparator("<", _v(M, m + 1, 0, _LOWEST)))
    else:
        out.append(_Comparator("<=", _v(M, m, p, pre)))
    return tuple(out) or (_Comparator(">=", _ANY),)


def _comparators(op: str, partial: tuple, text: str) -> list[_Comparator]:
    M, m, p, pre = partial
    if op in ("~", "~>"):
        if M is None:
            return [_Comparator(">=", _ANY)]
        if m is None:
            return [_Comparator(">=", _v(M, 0, 0)), _Comparator("<", _v(M + 1, 0, 0, _LOWEST))]
        return [_Comparator(">=", _v(M, m, p or 0, pre)), _Comparator("<", _v(M, m + 1, 0, _LOWEST))]
    if op == "^":
        if M is None:
            return [_Comparator(">=", _ANY)]
        low = _v(M, m or 0, p or 0, pre)
        if M > 0 or m is None:
            high = _v(M + 1, 0, 0, _LOWEST)
        elif m > 0 or p is None:
            high = _v(0, m + 1, 0, _LOWEST)
        else:
            high = _v(0, 0, p + 1, _LOWEST)
        return [_Comparator(">=", low), _Comparator("<", high)]
    if op == "!=":
        if p is None:
            raise _bad(text, "!= needs a full version MAJOR.MINOR.PATCH")
        return [_Comparator("!=", _v(M, m, p, pre))]
    if p is not None:  # a full version: the comparator as written
        return [_Comparator(op or "=", _v(M, m, p, pre))]
    # partial versions, as node-semver's x-ranges
    if M is None:
        return [_Comparator("<", _v(0, 0, 0, _LOWEST))] if op in ("<", ">") else [_Comparator(">=", _ANY)]
    if op in ("", "="):
        high = _v(M + 1, 0, 0, _LOWEST) if m is None else _v(M, m + 1, 0, _LOWEST)
        return [_Comparator(">=", _v(M, m or 0, 0)), _Comparator("<", high)]
    if op == ">":  # above every version the partial covers
        return [_Comparator(">=", _v(M + 1, 0, 0) if m is None else _v(M, m + 1, 0))]
    if op == ">=":
        return [_Comparator(">=", _v(M, m or 0, 0))]
    if op == "<=":  # up to and with every version the partial covers
        return [_Comparator("<", _v(M + 1, 0, 0, _LOWEST) if m is None else _v(M, m + 1, 0, _LOWEST))]
    return [_Comparator("<", _v(M, m or 0, 0, _LOWEST))]  # "<"
