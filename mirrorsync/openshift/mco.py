"""What the API server (the CRD schemas) and the Machine Config Operator refuse in mirror sets, with their wording."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from ..errors import InputError
from .crs import ALLOW_CONTACTING_SOURCE, ICSP, IDMS, ITMS, NEVER_CONTACT_SOURCE, POLICIES, MirrorSet, is_valid_mirror, \
    is_valid_source


def is_valid_scope(scope: object) -> bool:
    """MCO's check for an insecure/blocked registry scope: anything without ``*``, or ``*.host``."""
    if not isinstance(scope, str) or scope == "":
        return False
    if "*" not in scope:
        return True
    return scope.startswith("*.") and not any(c in scope[2:] for c in "/@:*")


def _ordered_for_mco(sets: Iterable[MirrorSet]) -> list[MirrorSet]:
    # The MCO appends the ICSPs (converted to IDMS) after the IDMS, and checks the ITMS last.
    sets = list(sets)
    return ([s for s in sets if s.kind == IDMS] + [s for s in sets if s.kind == ICSP]
            + [s for s in sets if s.kind == ITMS])


def _entry_error(message: str, ms: MirrorSet, index: int, suffix: str = "") -> InputError:
    entry = ms.entries[index]
    return InputError(message, file=ms.file, line=entry.line or ms.line,
                      field=f"{ms.kind} {ms.name or '<unnamed>'}: spec.{ms.spec_field}[{index}]{suffix}")


def validate_for_mco(sets: Iterable[MirrorSet], insecure: Sequence[str] = (), blocked: Sequence[str] = ()) -> None:
    """Refuse what the Machine Config Operator refuses, with its wording, in its order (first error wins).

    Scopes first (insecure, then blocked), then each IDMS entry, ICSP entry and ITMS entry: source format,
    a mirrorSourcePolicy differing from an earlier one for the same source (unset means AllowContactingSource,
    ICSP entries are unset), mirror format, and NeverContactSource with the source among its own mirrors.
    """
    for scope in insecure:
        if not is_valid_scope(scope):
            raise InputError(f"invalid entry for insecure registries {_go_quote(scope)}")
    for scope in blocked:
        if not is_valid_scope(scope):
            raise InputError(f"invalid entry for blocked registries {_go_quote(scope)}")
    seen_policy: dict[str, str] = {}
    for ms in _ordered_for_mco(sets):
        for i, entry in enumerate(ms.entries):
            if not is_valid_source(entry.source):
                raise _entry_error(f"invalid format for source {_go_quote(entry.source)}", ms, i, ".source")
            policy = entry.policy or ALLOW_CONTACTING_SOURCE
            earlier = seen_policy.setdefault(entry.source, policy)
            if earlier != policy:
                raise _entry_error(
                    f"conflicting mirrorSourcePolicy is set for the same source {_go_quote(entry.source)} in "
                    "imagedigestmirrorsets, imagetagmirrorsets, or imagecontentsourcepolicies", ms, i,
                    ".mirrorSourcePolicy")
            for j, mirror in enumerate(entry.mirrors):
                if not is_valid_mirror(mirror):
                    raise _entry_error(f"invalid format for mirror {_go_quote(mirror)}", ms, i, f".mirrors[{j}]")
                if policy == NEVER_CONTACT_SOURCE and mirror == entry.source:
                    raise _entry_error(
                        "cannot set mirrorSourcePolicy: NeverContactSource if the source "
                        f"{_go_quote(entry.source)} is one of the mirrors", ms, i, f".mirrors[{j}]")


def crd_problems(ms: MirrorSet) -> list[InputError]:
    """What the API server would reject in ``ms`` beyond the MCO's own checks (CRD schema rules).

    The policy enum, unique mirrors (``x-kubernetes-list-type: set``), the source/mirror patterns, and a name.
    """
    problems = []
    if not ms.name:
        problems.append(InputError("metadata.name is required", file=ms.file, line=ms.line,
                                   field=f"{ms.kind} <unnamed>"))
    for i, entry in enumerate(ms.entries):
        if ms.kind != ICSP:
            if not is_valid_source(entry.source):
                problems.append(_entry_error(f"invalid format for source {_go_quote(entry.source)}", ms, i,
                                             ".source"))
            for j, mirror in enumerate(entry.mirrors):
                if not is_valid_mirror(mirror):
                    problems.append(_entry_error(f"invalid format for mirror {_go_quote(mirror)}", ms, i,
                                                 f".mirrors[{j}]"))
            if len(set(entry.mirrors)) != len(entry.mirrors):
                problems.append(_entry_error("mirrors must not contain duplicates", ms, i, ".mirrors"))
        if entry.policy is not None and entry.policy not in POLICIES:
            problems.append(_entry_error(
                f"unsupported value {_go_quote(entry.policy)}: must be one of {', '.join(POLICIES)}", ms, i,
                ".mirrorSourcePolicy"))
    return problems


def _go_quote(text: str) -> str:
    """Format ``text`` like Go's ``%q`` does for the printable strings the MCO quotes."""
    return json.dumps(text, ensure_ascii=False)
