"""Which bundles of a catalog a filter keeps, and why: oc-mirror v2's selection rules, without a second head.

- no packages: the head of every channel of every package (``full``: the catalog as it is);
- a package without channels: the heads of its channels (``full``: every bundle);
- channels listed: only those channels;
- a version range (package- or channel-level): the bundles in range plus the replaces chain between them, so the
  channel keeps exactly one head; an in-range bundle off that path would be a second head and is left out (said);
- the default channel must keep a bundle, unless ``defaultChannel`` names another kept channel;
- dependencies are followed only with ``resolve_dependencies``: a required package that is not selected is added
  with its channel heads, and the result says which bundle required it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ...errors import MirrorsyncError
from ...sync.semver import Version
from .fbc import BUNDLE, CHANNEL, DEPRECATIONS, Catalog, CatalogError, Channel, Package


@dataclass(frozen=True)
class ChannelFilter:
    name: str
    min_version: Version | None = None
    max_version: Version | None = None


@dataclass(frozen=True)
class PackageFilter:
    name: str
    channels: tuple[ChannelFilter, ...] = ()
    min_version: Version | None = None
    max_version: Version | None = None
    default_channel: str | None = None


@dataclass(frozen=True)
class CatalogFilter:
    packages: tuple[PackageFilter, ...] = ()
    full: bool = False
    resolve_dependencies: bool = False

    @property
    def whole_catalog(self) -> bool:
        """``full`` without packages: the catalog image is mirrored unchanged, not rebuilt."""
        return self.full and not self.packages


class FilterInputError(MirrorsyncError):
    """The filter asks for something the catalog cannot give; ``path`` is below the catalog's manifest entry
    (``("packages", 0, "channels", 1, "name")``), so that the error names the manifest's line."""

    def __init__(self, path: tuple, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass
class Selection:
    """What a filter keeps of a catalog: per package, the entries of each kept channel, and why each bundle."""

    channels: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # package -> channel -> entry names
    defaults: dict[str, str] = field(default_factory=dict)  # package -> default channel
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)  # (package, bundle) -> why kept
    left_out: list[dict] = field(default_factory=list)  # {"package", "bundle", "reason"}
    added: list[dict] = field(default_factory=list)  # {"package", "reason"}: dependencies added
    unchanged: bool = False  # the whole catalog, as it is

    def bundles(self) -> list[tuple[str, str]]:
        return sorted(self.reasons)


def select(catalog: Catalog, flt: CatalogFilter) -> Selection:
    """Apply ``flt`` to ``catalog``; raises ``FilterInputError`` for what the manifest must fix, ``CatalogError``
    for a catalog that breaks its own rules (a channel with several heads)."""
    sel = Selection()
    if flt.whole_catalog:
        sel.unchanged = True
        for pkg in catalog.packages.values():
            sel.defaults[pkg.name] = pkg.default_channel or ""
            for ch in pkg.channels.values():
                sel.channels.setdefault(pkg.name, {})[ch.name] = [e.name for e in ch.entries]
            for name in pkg.bundles:
                sel.reasons[(pkg.name, name)] = "full catalog"
        return sel
    if not flt.packages:
        for name in sorted(catalog.packages):
            _select_package(catalog.packages[name], PackageFilter(name), False, sel, (), "")
    else:
        for j, pf in enumerate(flt.packages):
            pkg = catalog.packages.get(pf.name)
            if pkg is None:
                raise FilterInputError(("packages", j, "name"), f"package {pf.name!r} is not in the catalog")
            _select_package(pkg, pf, flt.full, sel, ("packages", j), "")
    if flt.resolve_dependencies:
        _resolve_dependencies(catalog, sel)
    return sel


def _select_package(pkg: Package, pf: PackageFilter, full: bool, sel: Selection, path: tuple, why: str) -> None:
    wanted: list[tuple[Channel, ChannelFilter | None, tuple]] = []
    if pf.channels:
        for k, cf in enumerate(pf.channels):
            ch = pkg.channels.get(cf.name)
            if ch is None:
                raise FilterInputError(path + ("channels", k, "name"),
                                       f"package {pkg.name!r} has no channel {cf.name!r} (it has: "
                                       f"{', '.join(sorted(pkg.channels)) or 'none'})")
            wanted.append((ch, cf, path + ("channels", k)))
    else:
        wanted = [(pkg.channels[c], None, path) for c in sorted(pkg.channels)]
    kept_channels: dict[str, list[str]] = {}
    for ch, cf, _ in wanted:
        lo = cf.min_version if cf and (cf.min_version or cf.max_version) else pf.min_version
        hi = cf.max_version if cf and (cf.min_version or cf.max_version) else pf.max_version
        if lo is not None or hi is not None:
            chosen = _in_range(pkg, ch, lo, hi, sel)
        elif full:
            chosen = {e.name: f"full: every entry of channel {ch.name}" for e in ch.entries}
        else:
            chosen = {_head(pkg, ch): f"head of channel {ch.name}"}
        chosen = {name: reason for name, reason in chosen.items() if name in pkg.bundles}
        if not chosen:
            continue
        kept_channels[ch.name] = [e.name for e in ch.entries if e.name in chosen]
        for name, reason in chosen.items():
            key = (pkg.name, name)
            sel.reasons.setdefault(key, reason + why)
    default = pf.default_channel or pkg.default_channel
    if pf.default_channel and pf.default_channel not in kept_channels:
        raise FilterInputError(path + ("defaultChannel",),
                               f"defaultChannel {pf.default_channel!r} of package {pkg.name!r} keeps no bundle "
                               f"(kept channels: {', '.join(sorted(kept_channels)) or 'none'})")
    if default not in kept_channels:
        raise FilterInputError(path or ("packages",),
                               f"the default channel {default!r} of package {pkg.name!r} is filtered out: set "
                               f"defaultChannel to one of the kept channels "
                               f"({', '.join(sorted(kept_channels)) or 'none'})")
    sel.channels[pkg.name] = kept_channels
    sel.defaults[pkg.name] = default


def _head(pkg: Package, ch: Channel) -> str:
    heads = ch.heads()
    if len(heads) != 1:
        raise CatalogError(f"channel {ch.name!r} of package {pkg.name!r} has {len(heads)} heads "
                           f"({', '.join(heads) or 'none'}): the catalog is broken")
    return heads[0]


def _version(pkg: Package, name: str) -> Version | None:
    b = pkg.bundles.get(name)
    return b.version if b else None


def _in_range(pkg: Package, ch: Channel, lo: Version | None, hi: Version | None, sel: Selection) -> dict[str, str]:
    """The entries in [lo, hi], joined by the replaces chain from the highest of them down to the lowest."""
    def inside(name: str) -> bool:
        v = _version(pkg, name)
        return v is not None and (lo is None or not v < lo) and (hi is None or not hi < v)

    span = f"{lo or '*'}..{hi or '*'}"
    in_range = [e for e in ch.entries if inside(e.name)]
    if not in_range:
        return {}
    by_name = {e.name: e for e in ch.entries}
    top = max(in_range, key=lambda e: (_version(pkg, e.name), e.name))
    chosen = {top.name: f"highest version in {span} of channel {ch.name} (its head)"}
    cur = top
    while cur.replaces in by_name and cur.replaces not in chosen:
        nxt = by_name[cur.replaces]
        v = _version(pkg, nxt.name)
        if lo is not None and v is not None and v < lo:
            break
        chosen[nxt.name] = (f"in {span}, on the replaces chain of channel {ch.name}" if inside(nxt.name)
                            else f"on the replaces chain between versions {span} of channel {ch.name}")
        cur = nxt
    grew = True
    while grew:  # in-range entries that a kept entry replaces or skips are not heads: they can stay
        grew = False
        for e in list(chosen):
            for target in [by_name[e].replaces, *by_name[e].skips]:
                if target in by_name and target not in chosen and inside(target):
                    chosen[target] = f"in {span}, skipped or replaced by {e} in channel {ch.name}"
                    grew = True
    for e in in_range:
        if e.name not in chosen:
            sel.left_out.append({"package": pkg.name, "bundle": e.name,
                                 "reason": f"in {span} but off the upgrade path to {top.name}: keeping it would "
                                           f"give channel {ch.name} a second head"})
    return chosen


def _resolve_dependencies(catalog: Catalog, sel: Selection) -> None:
    providers: dict[tuple, list[str]] = {}
    for pkg in catalog.packages.values():
        for b in pkg.bundles.values():
            for gvk in b.properties("olm.gvk"):
                if isinstance(gvk, dict):
                    providers.setdefault(_gvk(gvk), []).append(pkg.name)
    done: set[tuple[str, str]] = set()
    while True:
        todo = [k for k in sel.bundles() if k not in done]
        if not todo:
            return
        for package, name in todo:
            done.add((package, name))
            b = catalog.bundle(package, name)
            for req in b.properties("olm.package.required"):
                if not isinstance(req, dict):
                    continue
                wanted = str(req.get("packageName") or "")
                rng = req.get("versionRange")
                _add_required(catalog, sel, wanted, f"olm.package.required{' ' + rng if rng else ''} of bundle {name}")
            for req in b.properties("olm.gvk.required"):
                if not isinstance(req, dict):
                    continue
                found = sorted(set(providers.get(_gvk(req), [])))
                if found and not any(p in sel.channels for p in found):
                    g, v, k = _gvk(req)
                    _add_required(catalog, sel, found[0], f"olm.gvk.required {g}/{v} {k} of bundle {name}")


def _add_required(catalog: Catalog, sel: Selection, package: str, why: str) -> None:
    if package in sel.channels:
        return
    pkg = catalog.packages.get(package)
    if pkg is None:
        sel.added.append({"package": package, "reason": f"{why}; not in the catalog, so not added"})
        return
    _select_package(pkg, PackageFilter(package), False, sel, (), f" (dependency: {why})")
    sel.added.append({"package": package, "reason": why})


def _gvk(value: dict) -> tuple[str, str, str]:
    return (str(value.get("group") or ""), str(value.get("version") or ""), str(value.get("kind") or ""))


def without(catalog: Catalog, sel: Selection, missing: dict[tuple[str, str], str]) -> Selection:
    """``sel`` without the bundles in ``missing`` ((package, bundle) -> why), and without what no longer fits:
    the entries no longer on the upgrade path to the channel's head (they would be second heads), channels left
    empty, and a package whose default channel is left empty. The result says what was left out and why."""
    if not missing:
        return sel
    out = Selection(added=list(sel.added), left_out=list(sel.left_out))
    for (package, name), why in sorted(missing.items()):
        if (package, name) in sel.reasons:
            out.left_out.append({"package": package, "bundle": name, "reason": why})
    for package, channels in sel.channels.items():
        pkg = catalog.packages[package]
        kept: dict[str, list[str]] = {}
        for cname, names in channels.items():
            names = [n for n in names if (package, n) not in missing]
            names = _reachable_from_head(pkg, pkg.channels[cname], names, out)
            if names:
                kept[cname] = names
        default = sel.defaults[package]
        if default not in kept:
            for cname in channels:
                for n in kept.get(cname, []):
                    out.left_out.append({"package": package, "bundle": n,
                                         "reason": f"its package's default channel {default} has no bundle on "
                                                   f"the mirrors"})
            continue
        out.channels[package] = kept
        out.defaults[package] = default
    for package, channels in out.channels.items():
        for names in channels.values():
            for n in names:
                out.reasons[(package, n)] = sel.reasons[(package, n)]
    return out


def _reachable_from_head(pkg: Package, ch: Channel, names: list[str], out: Selection) -> list[str]:
    present = set(names)
    entries = {e.name: e for e in ch.entries if e.name in present}
    pointed = {t for e in entries.values() for t in [e.replaces, *e.skips] if t in present}
    heads = sorted((n for n in names if n not in pointed), key=lambda n: (_version(pkg, n), n))
    if len(heads) <= 1:
        return names
    head = heads[-1]
    reach, todo = {head}, [head]
    while todo:
        e = entries[todo.pop()]
        for t in [e.replaces, *e.skips]:
            if t in present and t not in reach:
                reach.add(t)
                todo.append(t)
    for n in names:
        if n not in reach:
            out.left_out.append({"package": pkg.name, "bundle": n,
                                 "reason": f"no longer on the upgrade path to {head} in channel {ch.name} once "
                                           f"the bundles missing from the mirrors are left out"})
    return [n for n in names if n in reach]


def apply(catalog: Catalog, sel: Selection) -> Catalog:
    """The filtered catalog: kept packages, channels (entries as they were written) and bundles, the default
    channel the selection chose, deprecations of what is kept, and unknown schemas as they are."""
    if sel.unchanged:
        return catalog
    out = Catalog(others=list(catalog.others))
    for package in sorted(sel.channels):
        pkg = catalog.packages[package]
        doc = dict(pkg.doc)
        if sel.defaults.get(package):
            doc["defaultChannel"] = sel.defaults[package]
        new = Package(package, doc)
        kept_bundles = {n for names in sel.channels[package].values() for n in names}
        for cname, names in sel.channels[package].items():
            ch = pkg.channels[cname]
            keep = set(names)
            cdoc = dict(ch.doc)
            cdoc["entries"] = [e for e in ch.doc.get("entries") or [] if e.get("name") in keep]
            new.channels[cname] = Channel(package, cname, [e for e in ch.entries if e.name in keep], cdoc)
        for name in sorted(kept_bundles):
            new.bundles[name] = pkg.bundles[name]
        for other in pkg.others:
            if other.get("schema") == DEPRECATIONS:
                other = _deprecations(other, set(new.channels), kept_bundles)
                if other is None:
                    continue
            new.others.append(other)
        out.packages[package] = new
    return out


def _deprecations(doc: dict, channels: set[str], bundles: set[str]) -> dict | None:
    """A deprecations document without the entries about channels or bundles the filter left out (opm refuses
    a deprecation of something the catalog does not hold)."""
    entries = []
    for e in doc.get("entries") or []:
        ref = e.get("reference") if isinstance(e, dict) else None
        schema, name = (ref.get("schema"), ref.get("name")) if isinstance(ref, dict) else (None, None)
        if (schema == CHANNEL and name not in channels) or (schema == BUNDLE and name not in bundles):
            continue
        entries.append(e)
    if not entries:
        return None
    doc = copy.copy(doc)
    doc["entries"] = entries
    return doc


def images_of(catalog: Catalog, sel: Selection) -> dict[tuple[str, str], list[str]]:
    """(package, bundle) -> the images it needs on the mirror: the bundle image and its related images."""
    return {(p, b): catalog.packages[p].bundles[b].images for p, b in sel.bundles()}

