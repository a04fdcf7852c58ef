"""A chart directory's ``.helmignore``, read as ``helm package`` reads it (Helm's pkg/ignore): not gitignore.

One pattern a line (blank lines and ``#`` comments skipped, each line trimmed); ``**`` is refused. A pattern is
Go's ``filepath.Match`` glob (``*`` and ``?`` never match ``/``, ``[...]``/``[^...]`` classes, ``\\`` escapes):
with no ``/`` in it, it is matched against the last name of the path only; with a ``/`` (a leading one is dropped),
against the whole path below the chart directory. A trailing ``/`` makes it match directories only (an ignored
directory is skipped whole). The rules are tried in order and the first that decides wins: a pattern that matches
ignores; ``!pattern`` ignores whatever does *not* match it (and every file, when it names directories), and lets
what matches go on to the next rule. Helm adds ``templates/.?*`` (dotfiles in templates/) after the file's rules.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

FILENAME = ".helmignore"
DEFAULTS = ("templates/.?*",)


def _go_glob(pattern: str) -> re.Pattern[str]:
    """Go's ``filepath.Match`` pattern as a regular expression (whole string); ``ValueError`` when malformed."""
    out: list[str] = []
    i, n = 0, len(pattern)

    def escaped() -> str:  # one character of a class: ``\c`` or ``c``, never a bare ``-`` or ``]``
        nonlocal i
        if i >= n or pattern[i] in "-]":
            raise ValueError("syntax error in pattern")
        if pattern[i] == "\\":
            i += 1
            if i >= n:
                raise ValueError("syntax error in pattern")
        i += 1
        return pattern[i - 1]

    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            i += 1
            if i >= n:
                raise ValueError("syntax error in pattern")
            out.append(re.escape(pattern[i]))
        elif c == "[":
            i += 1
            negated = i < n and pattern[i] == "^"
            i += negated
            ranges: list[tuple[str, str]] = []
            while True:
                if i < n and pattern[i] == "]" and ranges:
                    break
                lo = hi = escaped()
                if i < n and pattern[i] == "-":
                    i += 1
                    hi = escaped()
                ranges.append((lo, hi))
            body = "".join(f"{re.escape(lo)}-{re.escape(hi)}" for lo, hi in ranges if lo <= hi)
            if body:
                out.append(f"[{'^' if negated else ''}{body}]")
            else:  # only empty ranges (``[b-a]``): nothing, or with ``^`` any one character
                out.append("[\\s\\S]" if negated else "(?!)")
            i += 1  # the closing ]
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


@dataclass(frozen=True)
class _Rule:
    raw: str
    regex: re.Pattern[str]
    negate: bool
    dirs_only: bool
    whole_path: bool

    def matches(self, path: str) -> bool:
        return self.regex.fullmatch(path if self.whole_path else posixpath.basename(path)) is not None


class Rules:
    """The rules of one ``.helmignore`` (and Helm's default), in order."""

    def __init__(self, rules: list[_Rule]) -> None:
        self.rules = rules

    @classmethod
    def parse(cls, text: str, where: str = FILENAME) -> Rules:
        """``ValueError`` naming ``where`` and the line for a pattern Helm refuses."""
        rules = []
        for number, line in enumerate([*text.splitlines(), *DEFAULTS], 1):
            rule = line.strip()
            if not rule or rule.startswith("#"):
                continue
            if "**" in rule:
                raise ValueError(f"{where}, line {number}: {rule!r}: double-star (**) syntax is not supported")
            negate = rule.startswith("!")
            body = rule[1:] if negate else rule
            dirs_only = body.endswith("/")
            body = body[:-1] if dirs_only else body
            whole_path = "/" in body
            try:
                _go_glob(rule)  # Helm checks the line as written
                regex = _go_glob(body[1:] if body.startswith("/") else body)
            except ValueError as exc:
                raise ValueError(f"{where}, line {number}: {rule!r}: {exc}") from None
            rules.append(_Rule(rule, regex, negate, dirs_only, whole_path))
        return cls(rules)

    def ignore(self, path: str, is_dir: bool) -> bool:
        """Whether ``path`` (below the chart directory, ``/``-separated) is left out of the package."""
        if path in ("", ".", "./"):
            return False
        for rule in self.rules:
            if rule.negate:
                if (rule.dirs_only and not is_dir) or not rule.matches(path):
                    return True
                continue
            if rule.dirs_only and not is_dir:
                continue
            if rule.matches(path):
                return True
        return False
