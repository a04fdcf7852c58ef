"""Will applying these mirror sets drain the nodes? The Machine Config Operator's answer, before ``oc apply``.

The MCO renders every IDMS/ITMS/ICSP into one ``/etc/containers/registries.conf`` (see :mod:`.registries_conf`)
and, on each node, decides from the old and new file whether CRI-O is only reloaded or the node is cordoned and
drained first. The rule is machine-config-operator ``pkg/daemon/drain.go``, ``isDrainRequired`` (a changed
registries.conf is the reload-CRI-O action: drain unless ``isSafeContainerRegistryConfChanges``) and
``isSafeContainerRegistryConfChanges`` (read in openshift/machine-config-operator at the current version, with
``allDigestOnlyMirror``, per-mirror ``pull-from-mirror`` checks and the ``image-registry-override-drain`` ConfigMap
check, which mirrorsync never assumes; older versions, e.g. commits 011c4a9b and 0ab40fc5, keyed entries by
``location`` alone and asked for ``mirror-by-digest-only`` instead).
It is applied here to the two files exactly as written there, check by check, on what ``toml.Decode`` gives (the
file as rendered, not as containers/image post-processes it). Where the MCO stops at the first unsafe change
(and, walking a Go map, at a random one), this module collects every one, scope by scope, for the user to read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .crs import MirrorSet
from .registries_conf import DIGEST_ONLY, Endpoint, RegistriesConf, Registry, build_registries_conf, dumps

NONE = "none"
RELOAD = "reload"
DRAIN = "drain"
VERDICTS = (NONE, RELOAD, DRAIN)

# The MCO's way out (pkg/daemon/constants ImageRegistryDrainOverrideConfigmap, namespace
# openshift-machine-config-operator): while it exists every registries.conf change skips the drain. Named in the
# README with its risk; mirrorsync never sets it and its verdicts do not assume it.
OVERRIDE_CONFIGMAP = "image-registry-override-drain"

_LINES = {NONE: "no change", RELOAD: "CRI-O reload, no drain"}


@dataclass(frozen=True)
class Verdict:
    """What applying the new registries.conf does to each node: ``verdict`` one of :data:`VERDICTS`."""

    verdict: str
    reasons: tuple[str, ...] = ()

    @property
    def drains(self) -> bool:
        return self.verdict == DRAIN

    def line(self) -> str:
        """``no change``, ``CRI-O reload, no drain`` or ``drain: <each reason>``."""
        return _LINES.get(self.verdict) or f"{DRAIN}: {'; '.join(self.reasons)}"

    def to_dict(self) -> dict[str, object]:
        return {"verdict": self.verdict, "reasons": list(self.reasons)}

    @classmethod
    def from_dict(cls, data: dict) -> Verdict:
        """The verdict of :meth:`to_dict` (as a report holds it)."""
        return cls(str(data.get("verdict")), tuple(str(r) for r in data.get("reasons") or ()))


def _scope(reg: Registry) -> str:
    # drain.go: "scope := reg.Location; if reg.Prefix != "" { scope = reg.Prefix }"
    return reg.prefix or reg.location


def _by_scope(config: RegistriesConf) -> dict[str, Registry]:
    # A Go map filled in file order: a later entry with the same scope replaces an earlier one.
    return {_scope(reg): reg for reg in config.registries}


def _search_mirror(location: str, mirrors: Sequence[Endpoint]) -> Endpoint | None:
    """drain.go searchRegistryMirror: the first mirror with this location."""
    return next((m for m in mirrors if m.location == location), None)


def _all_digest_only(reg: Registry) -> bool:
    """drain.go allDigestOnlyMirror."""
    if not reg.mirrors:
        return reg.mirror_by_digest_only
    return all(m.pull_from_mirror == DIGEST_ONLY for m in reg.mirrors)


def _changed_registry_reasons(scope: str, old: Registry, new: Registry) -> list[str]:
    """drain.go, "Registry is available in both old and new config" (called only when not reflect.DeepEqual)."""
    reasons = []
    for name, before, after in (("prefix", old.prefix, new.prefix), ("location", old.location, new.location),
                                ("blocked", old.blocked, new.blocked), ("insecure", old.insecure, new.insecure)):
        if before != after:
            reasons.append(f"{scope}: {name} changed from {_show(before)} to {_show(after)}")
    for m in old.mirrors:
        if _search_mirror(m.location, new.mirrors) is None:
            reasons.append(f"{scope}: mirror {m.location} removed")
    for m in new.mirrors:
        before = _search_mirror(m.location, old.mirrors)
        if before is not None:
            if m.pull_from_mirror != before.pull_from_mirror and m.pull_from_mirror != DIGEST_ONLY:
                reasons.append(f"{scope}: mirror {m.location} changed pull-from-mirror from "
                               f"{_show(before.pull_from_mirror)} to {_show(m.pull_from_mirror)}")
        elif m.pull_from_mirror != DIGEST_ONLY and not new.mirror_by_digest_only:
            reasons.append(f"{scope}: mirror {m.location} added with pull-from-mirror "
                           f"{_show(m.pull_from_mirror)}, not digest-only")
    return reasons


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if value else '""'


def unsafe_changes(old: RegistriesConf, new: RegistriesConf) -> list[str]:
    """Every change from ``old`` to ``new`` that ``isSafeContainerRegistryConfChanges`` calls unsafe (each one
    alone makes it return false); empty when it returns true. Search registries first, then scope by scope."""
    reasons = []
    old_search, new_search = old.unqualified_search_registries, new.unqualified_search_registries
    # "Order of UnqualifiedSearchRegistries matters": the old list must start the new one.
    if len(old_search) > len(new_search) or any(new_search[i] != r for i, r in enumerate(old_search)):
        reasons.append(f"unqualified-search-registries changed from {old_search} to {new_search} "
                       "(only appending is safe)")
    old_regs, new_regs = _by_scope(old), _by_scope(new)
    for scope in sorted(old_regs.keys() | new_regs.keys()):
        if scope not in new_regs:
            reasons.append(f"{scope}: registry removed")
            continue
        new_reg, old_reg = new_regs[scope], old_regs.get(scope)
        if old_reg is not None:
            if old_reg != new_reg:  # reflect.DeepEqual: mirror order and per-mirror flags count too
                reasons.extend(_changed_registry_reasons(scope, old_reg, new_reg))
        elif not _all_digest_only(new_reg):
            kinds = sorted({m.pull_from_mirror or "all" for m in new_reg.mirrors}) or ["no mirrors"]
            reasons.append(f"{scope}: registry added with mirrors not all digest-only ({', '.join(kinds)})")
    return reasons


def registries_conf_verdict(old: RegistriesConf, new: RegistriesConf) -> Verdict:
    """``isDrainRequired`` for a change of registries.conf alone: none when the rendered files are equal (the file
    is not in the MachineConfig diff), else drain unless every change is safe."""
    if dumps(old) == dumps(new):
        return Verdict(NONE)
    reasons = unsafe_changes(old, new)
    return Verdict(DRAIN, tuple(reasons)) if reasons else Verdict(RELOAD)


@dataclass(frozen=True)
class Comparison:
    """Two sets of mirror sets as nodes get them: both registries.conf texts and the verdict."""

    old_conf: str
    new_conf: str
    verdict: Verdict = field(default_factory=lambda: Verdict(NONE))


def compare(old: Sequence[MirrorSet], new: Sequence[MirrorSet], insecure: Sequence[str] = (),
            blocked: Sequence[str] = ()) -> Comparison:
    """Render both sets as the MCO does (raising its InputError where it would refuse them) and judge the change."""
    old_config = build_registries_conf(old, insecure, blocked)
    new_config = build_registries_conf(new, insecure, blocked)
    return Comparison(dumps(old_config), dumps(new_config), registries_conf_verdict(old_config, new_config))
