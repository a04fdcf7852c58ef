"""Regular expressions that run in time linear in their input: RE2, the engine Go's ``regexp`` follows.

Two kinds of pattern meet untrusted text here: the manifest's tag filters (``include``/``exclude``) run over a
registry's tag list, and the CRDs' source/mirror patterns run over whatever an IDMS, ITMS or ICSP file holds.
Under Python's backtracking ``re`` both can take exponential time (the IDMS CRD's path pattern nests ``[-]*`` in a
``+``: "h/" and 30 letters and a "!" took over 100 s); Go, where the API server, the MCO, skopeo and oc-mirror run these same
patterns, never does. RE2 is Go's syntax and semantics, so a filter means here what it means to those tools:
no backreferences or lookaround, ``\\d``/``\\w``/``\\s`` are ASCII, and ``$`` matches only at the end of the text.
"""

from __future__ import annotations

import functools

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print each refused pattern to stderr through absl


class RegexError(ValueError):
    """A pattern RE2 (Go's syntax) refuses; the message is RE2's reason."""


@functools.lru_cache(maxsize=4096)
def compile(pattern: str):  # noqa: A001 - the re module's name for the same thing
    """The compiled pattern (``search``/``match``/``fullmatch`` as in ``re``); :class:`RegexError` if RE2 refuses it."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        raise RegexError(reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)) from None


def search(pattern: str, text: str) -> bool:
    """True if ``pattern`` matches anywhere in ``text`` (Go's ``regexp.MatchString``)."""
    return compile(pattern).search(text) is not None


def fullmatch(pattern: str, text: str) -> bool:
    """True if ``pattern`` matches the whole of ``text``."""
    return compile(pattern).fullmatch(text) is not None
