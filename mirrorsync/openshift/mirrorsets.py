"""The IDMS/ITMS (and, on request, ICSP) objects that point cluster nodes at what was mirrored.

One entry per source repository unless a wider scope was asked for. A wider entry (namespace, registry, or
``*.host``) also redirects repositories that were not mirrored: nodes try the mirror first and then fall back to
the source. That fallback is why a NeverContactSource source is never widened (it would break every pull of an
image that is not on the mirror), and why a wider entry is only made when every mirrored repository collapsing
into it agrees on the mirrors and the policy, and each mirror keeps the source's path below the wider scope.
A repository flattened for a depth-limited mirror (``maxNestedPaths``: ``ns/a/b`` stored as ``ns/a-b``) does not
keep it, so its entry is always its own, mapping the source repository to the flattened one (the report marks it
``repository`` scope as well); the longest-prefix rule then sends it there whatever wider entries its siblings get.

A ``*.host`` entry has one more cost: the MCO refuses to render registries.conf when the cluster lists an
insecure or blocked registry inside that wildcard (it cannot copy wildcard mirrors down to nested scopes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .. import linear_regex
from ..errors import InputError
from ..sync.report import MirroredSource  # noqa: F401 - the report's summary this module renders; re-exported
from .crs import ALLOW_CONTACTING_SOURCE, ICSP, IDMS, ITMS, NEVER_CONTACT_SOURCE, POLICIES, MirrorEntry, MirrorSet, \
    is_valid_mirror
from .goyaml import dump_yaml, dump_yaml_documents
from .mco import crd_problems, validate_for_mco
from .registries_conf import scope_is_nested_inside_scope
from .resolve import Resolver, config_from_mirror_sets

SCOPES = ("repository", "namespace", "registry", "wildcard")
_RANK = {scope: i for i, scope in enumerate(SCOPES)}

FILENAMES = {IDMS: "imagedigestmirrorset.yaml", ITMS: "imagetagmirrorset.yaml", ICSP: "imagecontentsourcepolicy.yaml"}

# The API server takes requests up to 3 MiB and etcd values up to 1.5 MiB; the MCO also folds every mirror set into
# one MachineConfig. 256 KiB per object stays far from all of these.
MAX_OBJECT_BYTES = 256 * 1024

_DNS_SUBDOMAIN = linear_regex.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")
_MAX_NAME = 253


@dataclass(frozen=True)
class MirrorSetFile:
    """One output file (see :data:`FILENAMES`) and its multi-document YAML text."""

    filename: str
    text: str


@dataclass
class _Merged:
    source: str
    mirrors: list[str]
    by_digest: bool
    by_tag: bool
    policy: str | None
    scope: str


@dataclass
class _Planned:
    """A CR entry: its source (possibly wider than the repositories in ``members``), mirrors and policy."""

    source: str
    mirrors: tuple[str, ...]
    policy: str | None
    by_digest: bool
    by_tag: bool
    members: list[str] = field(default_factory=list)


def _check(src: MirroredSource) -> None:
    where = f"mirrored source {src.source!r}"
    if not isinstance(src.source, str) or not is_valid_mirror(src.source) or "/" not in src.source:
        raise InputError("source must be a repository (registry/path, lowercase path, no tag or digest)",
                         field=where)
    if not src.mirrors:
        raise InputError("at least one mirror is required", field=where)
    for mirror in src.mirrors:
        if not is_valid_mirror(mirror):
            raise InputError(f"invalid mirror {mirror!r} (host[:port][/path], no wildcard, tag or digest)",
                             field=where)
    if src.policy is not None and src.policy not in POLICIES:
        raise InputError(f"policy must be one of {', '.join(POLICIES)}, not {src.policy!r}", field=where)
    if src.scope not in _RANK:
        raise InputError(f"scope must be one of {', '.join(SCOPES)}, not {src.scope!r}", field=where)


def _same_policy(a: str | None, b: str | None) -> bool:
    # The MCO reads an unset policy as AllowContactingSource.
    return (a or ALLOW_CONTACTING_SOURCE) == (b or ALLOW_CONTACTING_SOURCE)


def _combined_policy(policies: Iterable[str | None]) -> str | None:
    policies = list(policies)
    for explicit in (NEVER_CONTACT_SOURCE, ALLOW_CONTACTING_SOURCE):
        if explicit in policies:
            return explicit
    return None


def _merge_duplicates(sources: Iterable[MirroredSource]) -> list[_Merged]:
    merged: dict[str, _Merged] = {}
    for src in sources:
        _check(src)
        if not (src.by_digest or src.by_tag):
            continue
        have = merged.get(src.source)
        if have is None:
            merged[src.source] = _Merged(src.source, list(dict.fromkeys(src.mirrors)), src.by_digest, src.by_tag,
                                         src.policy, src.scope)
            continue
        if not _same_policy(have.policy, src.policy):
            raise InputError(f"conflicting mirrorSourcePolicy: {have.policy or 'unset'} and {src.policy or 'unset'}",
                             field=f"mirrored source {src.source!r}")
        have.mirrors.extend(m for m in src.mirrors if m not in have.mirrors)
        have.by_digest |= src.by_digest
        have.by_tag |= src.by_tag
        have.policy = _combined_policy([have.policy, src.policy])
        have.scope = min(have.scope, src.scope, key=_RANK.__getitem__)
    return [merged[s] for s in sorted(merged)]


def _widen(src: _Merged, level: str) -> tuple[str, tuple[str, ...]] | None:
    """The wider source at ``level`` and the mirrors for it, or None if the mirrors do not allow it."""
    host, _, path = src.source.partition("/")
    if level == "namespace":
        if "/" not in path:
            return None
        wider, relative = src.source.rsplit("/", 1)
    elif level == "registry":
        wider, relative = host, path
    else:
        labels = host.split(".")
        # A port cannot be expressed in a *.host source, and "*.com" would be absurdly wide.
        if ":" in host or len(labels) < 3:
            return None
        wider, relative = "*." + ".".join(labels[1:]), path
    suffix = "/" + relative
    mirrors = []
    for mirror in src.mirrors:
        if not mirror.endswith(suffix) or not is_valid_mirror(mirror[:-len(suffix)]):
            return None
        mirrors.append(mirror[:-len(suffix)])
    return wider, tuple(mirrors)


def _plan(merged: Sequence[_Merged], forbidden: set[tuple[str, str]]) -> list[_Planned]:
    """Decide each source's CR entry, widest allowed scope first; whatever cannot widen stays per repository.

    ``forbidden`` holds (source, wider scope) pairs that must not be used.
    """
    by_source = {m.source: m for m in merged}
    # A wider entry inside a NeverContactSource source would let its unmirrored repositories reach the source.
    never = [m.source for m in merged if m.policy == NEVER_CONTACT_SOURCE]
    planned: dict[str, _Planned] = {}
    remaining = [m for m in merged if m.policy != NEVER_CONTACT_SOURCE and m.scope != "repository"]
    for level in ("wildcard", "registry", "namespace"):
        groups: dict[str, list[tuple[_Merged, tuple[str, ...]]]] = {}
        for src in remaining:
            if _RANK[src.scope] < _RANK[level]:
                continue
            widened = _widen(src, level)
            if widened is not None and (src.source, widened[0]) not in forbidden:
                groups.setdefault(widened[0], []).append((src, widened[1]))
        for wider, members in sorted(groups.items()):
            mirrors = members[0][1]
            agree = all(m == mirrors and _same_policy(s.policy, members[0][0].policy) for s, m in members)
            # A mirrored repository whose own source is exactly the wider scope would share the entry.
            clash = by_source.get(wider)
            if clash is not None and clash not in [s for s, _ in members]:
                agree = agree and tuple(clash.mirrors) == mirrors and _same_policy(clash.policy, members[0][0].policy)
                members = [*members, (clash, mirrors)]
            if wider in planned or not agree or any(scope_is_nested_inside_scope(wider, n) for n in never):
                continue
            planned[wider] = _Planned(wider, mirrors, _combined_policy(s.policy for s, _ in members),
                                      any(s.by_digest for s, _ in members), any(s.by_tag for s, _ in members),
                                      [s.source for s, _ in members])
        done = {member for p in planned.values() for member in p.members}
        remaining = [m for m in remaining if m.source not in done]
    done = {member for p in planned.values() for member in p.members}
    for src in merged:
        if src.source not in done:
            planned[src.source] = _Planned(src.source, tuple(src.mirrors), src.policy, src.by_digest, src.by_tag,
                                           [src.source])
    return [planned[s] for s in sorted(planned)]


def _all_widenings(merged: Sequence[_Merged]) -> set[tuple[str, str]]:
    pairs = set()
    for src in merged:
        for level in ("wildcard", "registry", "namespace"):
            widened = _widen(src, level)
            if widened is not None:
                pairs.add((src.source, widened[0]))
    return pairs


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _DNS_SUBDOMAIN.fullmatch(name) or len(name) > _MAX_NAME - 6:
        raise InputError("must be a lowercase DNS subdomain name (a-z, 0-9, '-', '.'), at most 247 characters",
                         field=f"name {name!r}")


def _split(kind: str, name: str, entries: Sequence[MirrorEntry]) -> list[MirrorSet]:
    field_name = MirrorSet(kind, name).spec_field
    chunks: list[list[MirrorEntry]] = [[]]
    size = len(dump_yaml(MirrorSet(kind, name).to_object()))
    for entry in entries:
        item = MirrorSet(kind, name, (entry,)).to_object()["spec"][field_name][0]
        # Exactly the lines this entry adds to the object: the spec is the last key, its items contiguous.
        entry_size = len(dump_yaml({"spec": {field_name: [item]}})) - len(f"spec:\n    {field_name}:\n")
        if chunks[-1] and size + entry_size > MAX_OBJECT_BYTES:
            chunks.append([])
            size = len(dump_yaml(MirrorSet(kind, name).to_object()))
        chunks[-1].append(entry)
        size += entry_size
    if len(chunks) == 1:
        return [MirrorSet(kind, name, tuple(chunks[0]))]
    return [MirrorSet(kind, f"{name}-{i}", tuple(chunk)) for i, chunk in enumerate(chunks)]


def _objects(planned: Sequence[_Planned], name: str) -> tuple[list[MirrorEntry], list[MirrorEntry], list[MirrorSet]]:
    digest = [MirrorEntry(p.source, p.mirrors, p.policy) for p in planned if p.by_digest]
    tag = [MirrorEntry(p.source, p.mirrors, p.policy) for p in planned if p.by_tag]
    sets = _split(IDMS, name, digest) if digest else []
    sets += _split(ITMS, name, tag) if tag else []
    return digest, tag, sets


_PROBE_DIGEST = "@sha256:" + "0" * 64
_PROBE_TAG = ":latest"


def _pulls(resolver: Resolver, src: _Merged) -> list[tuple[str, tuple[tuple[str, bool], ...], bool]]:
    out = []
    for wanted, suffix in ((src.by_digest, _PROBE_DIGEST), (src.by_tag, _PROBE_TAG)):
        if wanted:
            got = resolver.resolve(src.source + suffix)
            out.append((suffix, tuple((s.reference, s.mirror) for s in got.sources), got.blocked))
    return out


def _shadowed(merged: Sequence[_Merged], planned: Sequence[_Planned], baseline: Resolver,
              sets: Sequence[MirrorSet]) -> set[tuple[str, str]]:
    """(source, wider scope) pairs to withdraw because a mirrored repository would no longer pull as intended.

    Intended is what per-repository entries give. A node uses only the longest matching entry, for digest and tag
    pulls alike, so a wider entry of one kind can hide another entry's mirrors of the other kind.
    """
    widened = {p.source: p for p in planned if p.members != [p.source]}
    home = {member: p.source for p in planned for member in p.members}
    resolver = Resolver(config_from_mirror_sets(sets))
    withdraw: set[tuple[str, str]] = set()
    for src in merged:
        if _pulls(resolver, src) == _pulls(baseline, src):
            continue
        matched = resolver.find_registry(src.source)
        culprit = widened.get(matched.scope) if matched is not None else None
        if culprit is not None and src.source not in culprit.members:
            withdraw.update((member, culprit.source) for member in culprit.members)
        elif home[src.source] != src.source:
            withdraw.add((src.source, home[src.source]))
    return withdraw


def build_mirror_set_objects(sources: Iterable[MirroredSource], *, name: str = "mirrorsync",
                             icsp: bool = False) -> list[MirrorSet]:
    """The IDMS, ITMS and (with ``icsp``) ICSP objects for what was mirrored, checked as the cluster would.

    Duplicate sources are merged (mirror order kept, first occurrence first). Entries are sorted by source; an
    object that would exceed :data:`MAX_OBJECT_BYTES` is split into ``<name>-0``, ``<name>-1``, ...
    The ICSP repeats the IDMS entries for clusters that still read ICSPs; it cannot say NeverContactSource, and
    the MCO refuses the same source with different policies, so ``icsp`` with a NeverContactSource digest source
    is an InputError.
    """
    _check_name(name)
    merged = _merge_duplicates(sources)
    baseline: Resolver | None = None
    forbidden: set[tuple[str, str]] = set()
    while True:
        planned = _plan(merged, forbidden)
        digest, tag, sets = _objects(planned, name)
        validate_for_mco(sets)
        if all(p.members == [p.source] for p in planned):
            break
        if baseline is None:
            baseline = Resolver(config_from_mirror_sets(_objects(_plan(merged, _all_widenings(merged)), name)[2]))
        withdraw = _shadowed(merged, planned, baseline, sets)
        if not withdraw:
            break
        if withdraw <= forbidden:
            # Cannot happen by construction; if it ever does, per-repository entries are always right.
            forbidden |= _all_widenings(merged)
        forbidden |= withdraw
    if icsp and digest:
        never = [e.source for e in digest if e.policy == NEVER_CONTACT_SOURCE]
        if never:
            raise InputError("an ImageContentSourcePolicy cannot express NeverContactSource, and the MCO refuses "
                             "the same source with and without it; drop --icsp or the policy",
                             field=f"mirrored source {never[0]!r}")
        sets += _split(ICSP, name, [MirrorEntry(e.source, e.mirrors) for e in digest])
    validate_for_mco(sets)
    for ms in sets:
        problems = crd_problems(ms)
        if problems:
            raise problems[0]
    return sets


def build_mirror_sets(sources: Iterable[MirroredSource], *, name: str = "mirrorsync",
                      icsp: bool = False) -> list[MirrorSetFile]:
    """The output files (only those with content), each multi-document YAML with stable bytes for the same input.

    See :func:`build_mirror_set_objects` for the rules.
    """
    sets = build_mirror_set_objects(sources, name=name, icsp=icsp)
    files = []
    for kind in (IDMS, ITMS, ICSP):
        objs = [ms.to_object() for ms in sets if ms.kind == kind]
        if objs:
            files.append(MirrorSetFile(FILENAMES[kind], dump_yaml_documents(objs)))
    return files
