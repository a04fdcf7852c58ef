"""``/etc/containers/registries.conf`` (v2) as OpenShift nodes get it.

Rendering follows the Machine Config Operator: its base file, ``validateRegistriesConfScopes``, then
openshift/runtime-utils ``EditRegistriesConfig`` (merging mirror sets per source in topological order, insecure
and blocked scopes propagated to nested entries, mirrors copied down to nested scopes). Loading follows
containers/image ``sysregistriesv2`` (location normalisation, the same refusals, first entry wins per prefix,
entries sorted by prefix), so that :mod:`mirrorsync.openshift.resolve` sees what a node sees.
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .crs import ICSP, IDMS, ITMS, NEVER_CONTACT_SOURCE, MirrorSet
from .mco import validate_for_mco

# templates/*/01-*-container-runtime/_base/files/container-registries.yaml in the MCO.
BASE_UNQUALIFIED_SEARCH_REGISTRIES = ("registry.access.redhat.com", "docker.io")

DIGEST_ONLY = "digest-only"
TAG_ONLY = "tag-only"
MIRROR_ALL = "all"
PULL_FROM_MIRROR_VALUES = (MIRROR_ALL, DIGEST_ONLY, TAG_ONLY)


@dataclass
class Endpoint:
    """A ``location`` to pull from: a mirror, or (embedded in :class:`Registry`) the primary."""

    location: str = ""
    insecure: bool = False
    pull_from_mirror: str = ""


@dataclass
class Registry:
    """One ``[[registry]]`` table."""

    prefix: str = ""
    location: str = ""
    insecure: bool = False
    blocked: bool = False
    mirrors: list[Endpoint] = field(default_factory=list)
    mirror_by_digest_only: bool = False
    # Only meaningful on mirrors; kept so that loading can refuse it where containers/image does.
    pull_from_mirror: str = ""

    @property
    def scope(self) -> str:
        """What the entry applies to: ``prefix`` when set, otherwise ``location`` (runtime-utils registryScope)."""
        return self.prefix or self.location


@dataclass
class RegistriesConf:
    """The parts of a v2 registries.conf that mirror configuration uses."""

    unqualified_search_registries: list[str] = field(default_factory=list)
    short_name_mode: str = ""
    registries: list[Registry] = field(default_factory=list)


def base_config() -> RegistriesConf:
    """The file the MCO starts from before applying the cluster's mirror sets and scopes."""
    return RegistriesConf(unqualified_search_registries=list(BASE_UNQUALIFIED_SEARCH_REGISTRIES))


# ---------------------------------------------------------------------------------------------------------------
# runtime-utils pkg/registries

def scope_is_nested_inside_scope(sub_scope: str, super_scope: str) -> bool:
    """True if ``sub_scope`` (a prefix or mirror location) lies inside ``super_scope``, wildcards included."""
    if sub_scope == super_scope:
        return True
    if len(sub_scope) > len(super_scope) and sub_scope.startswith(super_scope) and sub_scope[len(super_scope)] == "/":
        return True
    if super_scope.startswith("*."):
        # Wildcards match host names only: "*.foo" must not match "quay/bar.foo" or "quay/bar.foo:400".
        if ":" in sub_scope:
            host = sub_scope.split(":")[0]
            return host.endswith(super_scope[1:]) and "/" not in host
        return sub_scope.split("/")[0].endswith(super_scope[1:])
    return False


class _TopoGraph:
    """The directed graph runtime-utils sorts mirrors with: edges say "try before"."""

    def __init__(self) -> None:
        self.outgoing: dict[str, set[str]] = {}
        self.incoming: dict[str, set[str]] = {}

    def add_edge(self, src: str, dst: str) -> None:
        for node in (src, dst):
            self.outgoing.setdefault(node, set())
            self.incoming.setdefault(node, set())
        if src != dst:
            self.outgoing[src].add(dst)
            self.incoming[dst].add(src)

    def sorted(self) -> list[str]:
        """Every node, respecting edges where it can (Kahn's algorithm with a FIFO queue).

        Nodes become ready in alphabetical order among those freed at the same time; a cycle is broken by
        taking the alphabetically first remaining node. That is what the vectors recorded from the MCO show.
        """
        incoming = {node: set(edges) for node, edges in self.incoming.items()}
        queue = sorted(node for node, edges in incoming.items() if not edges)
        result: list[str] = []
        while incoming:
            if not queue:
                queue.append(min(incoming))
            node = queue.pop(0)
            if node not in incoming:
                continue
            result.append(node)
            del incoming[node]
            for successor in sorted(self.outgoing[node]):
                edges = incoming.get(successor)
                if edges is not None and node in edges:
                    edges.discard(node)
                    if not edges:
                        queue.append(successor)
        return result


@dataclass
class _MergedSet:
    source: str
    mirrors: list[str]
    never_contact_source: bool


def _merged_mirror_sets(entries: Iterable[tuple[str, Sequence[str], str | None]]) -> list[_MergedSet]:
    """One mirror list per source, sources sorted, lists merged so each input list's order is kept if possible."""
    lists: dict[str, list[Sequence[str]]] = {}
    never: dict[str, bool] = {}
    for source, mirrors, policy in entries:
        # No mirrors, or mirrors that only repeat the source, is not really a mirror set (and its policy is ignored).
        if not any(m != source for m in mirrors):
            continue
        lists.setdefault(source, []).append(mirrors)
        if policy == NEVER_CONTACT_SOURCE:
            never[source] = True
    merged = []
    for source in sorted(lists):
        graph = _TopoGraph()
        for mirrors in lists[source]:
            for before, after in zip(mirrors, mirrors[1:]):
                graph.add_edge(before, after)
            if source not in mirrors:
                graph.add_edge(mirrors[-1], source)
        ordered = graph.sorted()
        # The source is tried last anyway (it is the primary location), so a trailing source is dropped.
        if ordered and ordered[-1] == source:
            ordered.pop()
        merged.append(_MergedSet(source, ordered, never.get(source, False)))
    return merged


def _mirrors_adjusted_for_nested_scope(mirrored_scope: str, sub_scope: str,
                                       mirrors: Sequence[Endpoint]) -> list[Endpoint]:
    if not scope_is_nested_inside_scope(sub_scope, mirrored_scope):
        raise InputError(f"internal error: mirrorsAdjustedForNestedScope for {json.dumps(mirrored_scope)} "
                         f"and non-subscope {json.dumps(sub_scope)}")
    if mirrored_scope.startswith("*."):
        raise InputError(f"internal error: mirrorsAdjustedForNestedScope for a wildcard scope "
                         f"{json.dumps(mirrored_scope)}")
    if not sub_scope.startswith(mirrored_scope):
        raise InputError(f"internal error: mirrorsAdjustedForNestedScope with unexpected scopes "
                         f"{json.dumps(mirrored_scope)} and {json.dumps(sub_scope)}")
    suffix = sub_scope[len(mirrored_scope):]
    return [Endpoint(m.location + suffix, m.insecure, m.pull_from_mirror) for m in mirrors]


def edit_registries_config(config: RegistriesConf, insecure: Sequence[str], blocked: Sequence[str],
                           sets: Sequence[MirrorSet]) -> None:
    """Apply mirror sets and insecure/blocked scopes to ``config`` in place, exactly as runtime-utils does."""

    # The first entry per scope, as runtime-utils' linear getRegistryEntry finds it (scopes never change).
    by_scope: dict[str, Registry] = {}
    for reg in config.registries:
        by_scope.setdefault(reg.scope, reg)

    def get_entry(scope: str) -> Registry:
        reg = by_scope.get(scope)
        if reg is None:
            reg = Registry(prefix=scope) if scope.startswith("*.") else Registry(location=scope)
            config.registries.append(reg)
            by_scope[scope] = reg
        return reg

    def entries(*kinds: str) -> list[tuple[str, tuple[str, ...], str | None]]:
        return [(e.source, e.mirrors, e.policy) for kind in kinds for s in sets if s.kind == kind for e in s.entries]

    digest_sets = _merged_mirror_sets(entries(IDMS, ICSP))
    tag_sets = _merged_mirror_sets(entries(ITMS))
    for merged_sets, pull_from_mirror in ((digest_sets, DIGEST_ONLY), (tag_sets, TAG_ONLY)):
        for merged in merged_sets:
            reg = get_entry(merged.source)
            if merged.never_contact_source:
                reg.blocked = True
            reg.mirrors.extend(Endpoint(m, pull_from_mirror=pull_from_mirror) for m in merged.mirrors)

    # Blocked entries exist before the insecure pass so that e.g. *.blocked.insecure.com, nested in
    # *.insecure.com, gets both flags.
    for scope in blocked:
        get_entry(scope)
    # Only the most specific entry applies to a reference, so the flags go down to every nested entry.
    for insecure_scope in insecure:
        get_entry(insecure_scope).insecure = True
        for reg in config.registries:
            if scope_is_nested_inside_scope(reg.scope, insecure_scope):
                reg.insecure = True
            for mirror in reg.mirrors:
                if scope_is_nested_inside_scope(mirror.location, insecure_scope):
                    mirror.insecure = True
    for blocked_scope in blocked:
        get_entry(blocked_scope).blocked = True
        for reg in config.registries:
            if scope_is_nested_inside_scope(reg.scope, blocked_scope):
                reg.blocked = True
    # A scope entry created above inside a mirrored scope would otherwise hide that scope's mirrors; the block
    # from NeverContactSource is deliberately not copied.
    # Only entries without mirrors can receive any (those made for insecure/blocked scopes), so only they are
    # visited; the first mirrored scope in source order wins, as in runtime-utils.
    without_mirrors = [reg for reg in config.registries if not reg.mirrors]
    for merged in (*digest_sets, *tag_sets):
        if not without_mirrors:
            break
        mirrored = get_entry(merged.source)
        for reg in list(without_mirrors):
            if reg.scope != mirrored.scope and scope_is_nested_inside_scope(reg.scope, mirrored.scope):
                reg.mirrors = _mirrors_adjusted_for_nested_scope(mirrored.scope, reg.scope, mirrored.mirrors)
                if reg.mirrors:
                    without_mirrors.remove(reg)


def build_registries_conf(sets: Iterable[MirrorSet], insecure: Sequence[str] = (),
                          blocked: Sequence[str] = ()) -> RegistriesConf:
    """The configuration the MCO writes for these objects and the cluster's insecure/blocked registries.

    Raises InputError with the MCO's message when it would refuse the objects.
    """
    sets = list(sets)
    validate_for_mco(sets, insecure, blocked)
    config = base_config()
    edit_registries_config(config, list(insecure), list(blocked), sets)
    return config


def _add(table: Any, key: str, value: object, indent: int) -> None:
    import tomlkit  # noqa: PLC0415 - see dumps()

    item = tomlkit.item(value)
    item.indent(indent)
    table.add(key, item)


def dumps(config: RegistriesConf) -> str:
    """TOML with the keys, order and layout of the MCO's Go encoder (empty and false values omitted)."""
    # imported here: `run` needs this module's merge rules for its CRs but never renders TOML, and tomlkit is
    # ~35 ms of a no-op run's start-up
    import tomlkit  # noqa: PLC0415

    doc = tomlkit.document()
    doc.add("unqualified-search-registries", config.unqualified_search_registries)
    doc.add("short-name-mode", config.short_name_mode)
    doc.add("additional-layer-store-auth-helper", "")
    if not config.registries:
        return tomlkit.dumps(doc)
    registries = tomlkit.aot()
    for reg in config.registries:
        table = tomlkit.table()
        _add(table, "prefix", reg.prefix, 2)
        if reg.location:
            _add(table, "location", reg.location, 2)
        if reg.insecure:
            _add(table, "insecure", True, 2)
        if reg.pull_from_mirror:
            _add(table, "pull-from-mirror", reg.pull_from_mirror, 2)
        if reg.blocked:
            _add(table, "blocked", True, 2)
        if reg.mirror_by_digest_only:
            _add(table, "mirror-by-digest-only", True, 2)
        if reg.mirrors:
            mirrors = tomlkit.aot()
            for mirror in reg.mirrors:
                mtable = tomlkit.table()
                # indent() shifts the header and adds to every key's own indent: 2 + 2 = 4, as Go writes it.
                mtable.indent(2)
                if mirror.location:
                    _add(mtable, "location", mirror.location, 2)
                if mirror.insecure:
                    _add(mtable, "insecure", True, 2)
                if mirror.pull_from_mirror:
                    _add(mtable, "pull-from-mirror", mirror.pull_from_mirror, 2)
                mirrors.append(mtable)
            table.add("mirror", mirrors)
        registries.append(table)
    doc.add(tomlkit.nl())
    doc.add("registry", registries)
    return tomlkit.dumps(doc)


def render_registries_conf(sets: Iterable[MirrorSet], insecure: Sequence[str] = (),
                           blocked: Sequence[str] = ()) -> str:
    """The ``/etc/containers/registries.conf`` text the MCO would write (see :func:`build_registries_conf`)."""
    return dumps(build_registries_conf(sets, insecure, blocked))


# ---------------------------------------------------------------------------------------------------------------
# containers/image pkg/sysregistriesv2 (loading)

def _parse_location(text: str) -> str:
    trimmed = text.rstrip("/")
    if trimmed.startswith(("http://", "https://")):
        raise InputError(f"invalid location '{text}': URI schemes are not supported")
    return trimmed


def _get(table: dict[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind):
        raise InputError(f"must be a {kind.__name__}", field=f"{where}.{key}")
    return value


def _registry_from_table(table: object, index: int) -> Registry:
    where = f"registry[{index}]"
    if not isinstance(table, dict):
        raise InputError("must be a table", field=where)
    raw_mirrors = _get(table, "mirror", list, [], where)
    mirrors = []
    for j, raw in enumerate(raw_mirrors):
        mwhere = f"{where}.mirror[{j}]"
        if not isinstance(raw, dict):
            raise InputError("must be a table", field=mwhere)
        mirrors.append(Endpoint(_get(raw, "location", str, "", mwhere), _get(raw, "insecure", bool, False, mwhere),
                                _get(raw, "pull-from-mirror", str, "", mwhere)))
    return Registry(prefix=_get(table, "prefix", str, "", where), location=_get(table, "location", str, "", where),
                    insecure=_get(table, "insecure", bool, False, where),
                    blocked=_get(table, "blocked", bool, False, where), mirrors=mirrors,
                    mirror_by_digest_only=_get(table, "mirror-by-digest-only", bool, False, where),
                    pull_from_mirror=_get(table, "pull-from-mirror", str, "", where))


def _post_process(config: RegistriesConf) -> None:
    """containers/image V2RegistriesConf.postProcessRegistries: normalise, refuse, then dedupe by prefix."""
    by_location: dict[str, list[Registry]] = {}
    for reg in config.registries:
        reg.location = _parse_location(reg.location)
        if reg.prefix == "":
            if reg.location == "":
                raise InputError("invalid condition: both location and prefix are unset")
            reg.prefix = reg.location
        else:
            reg.prefix = _parse_location(reg.prefix)
            if not reg.prefix.startswith("*.") and reg.location == "":
                raise InputError("invalid condition: location is unset and prefix is not in the format: "
                                 "*.example.com")
        if reg.pull_from_mirror:
            raise InputError(f"pull-from-mirror must not be set for a non-mirror registry {json.dumps(reg.prefix)}")
        for mirror in reg.mirrors:
            mirror.location = _parse_location(mirror.location)
            if mirror.location == "":
                raise InputError("invalid condition: mirror location is unset")
            if reg.mirror_by_digest_only and mirror.pull_from_mirror:
                raise InputError(
                    f"cannot set mirror usage mirror-by-digest-only for the registry ({json.dumps(reg.location)}) "
                    f"and pull-from-mirror for per-mirror ({json.dumps(mirror.location)}) at the same time")
            if mirror.pull_from_mirror and mirror.pull_from_mirror not in PULL_FROM_MIRROR_VALUES:
                raise InputError(f"unsupported pull-from-mirror value {json.dumps(mirror.pull_from_mirror)} "
                                 f"for mirror {json.dumps(mirror.location)}")
        by_location.setdefault(reg.location or reg.prefix, []).append(reg)
    for reg in config.registries:
        for other in by_location[reg.location or reg.prefix]:
            if reg.insecure != other.insecure:
                raise InputError(f"registry '{reg.location}' is defined multiple times with conflicting "
                                 "'insecure' setting")
            if reg.blocked != other.blocked:
                raise InputError(f"registry '{reg.location}' is defined multiple times with conflicting "
                                 "'blocked' setting")
    config.unqualified_search_registries = [_parse_location(r) for r in config.unqualified_search_registries]
    # Later entries with an already-seen prefix can never match; containers/image drops them silently. It then
    # sorts the entries by prefix, and since the first of equally long matching prefixes wins, that order decides
    # ties: "*.example.com" sorts before "a.example.com", so the wildcard applies to "a.example.com/img".
    unique: dict[str, Registry] = {}
    for reg in config.registries:
        unique.setdefault(reg.prefix, reg)
    config.registries = [unique[prefix] for prefix in sorted(unique)]
    for reg in config.registries:
        if reg.prefix.startswith("*.") and any(c in reg.prefix for c in "/@:"):
            raise InputError(f"Wildcarded prefix should be in the format: *.example.com. Current prefix "
                             f"{json.dumps(reg.prefix)} is incorrectly formatted")


def as_loaded(config: RegistriesConf, *, path: str = "registries.conf") -> RegistriesConf:
    """What containers/image makes of ``config`` once written and read back: :func:`loads` without the TOML."""
    loaded = copy.deepcopy(config)
    try:
        _post_process(loaded)
    except InputError as exc:
        raise InputError(exc.message, file=path, field=exc.field) from None
    return loaded


def loads(text: str, *, path: str = "registries.conf") -> RegistriesConf:
    """Parse a v2 registries.conf the way containers/image does (errors carry its wording)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"invalid TOML: {exc}", file=path) from None
    except RecursionError:  # tomllib recurses once per level of nested arrays or inline tables
        raise InputError("invalid TOML: nested too deeply", file=path) from None
    if "registries" in data:
        raise InputError("registries.conf version 1 ([registries.search] etc.) is not supported; use version 2",
                         file=path)
    try:
        search = _get(data, "unqualified-search-registries", list, [], "(top level)")
        if not all(isinstance(s, str) for s in search):
            raise InputError("must be a list of strings", field="unqualified-search-registries")
        raw = _get(data, "registry", list, [], "(top level)")
        config = RegistriesConf(list(search), _get(data, "short-name-mode", str, "", "(top level)"),
                                [_registry_from_table(t, i) for i, t in enumerate(raw)])
        _post_process(config)
    except InputError as exc:
        raise InputError(exc.message, file=path, field=exc.field) from None
    return config


def load(path: str | Path) -> RegistriesConf:
    """Read and parse a registries.conf file (see :func:`loads`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    return loads(text, path=str(path))
