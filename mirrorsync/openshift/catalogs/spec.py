"""The manifest's ``operators`` section: which operator catalogs to mirror, filtered to which packages.

Names and meaning as in oc-mirror's ImageSetConfiguration (``mirror.operators``); see the README and
:mod:`mirrorsync.openshift.catalogs.filter` for the selection rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...registry import reference
from ...registry.reference import Reference
from ...sync.semver import Version
from .filter import CatalogFilter, ChannelFilter, PackageFilter

_CATALOG_KEYS = {"catalog", "full", "packages", "targetCatalog", "targetTag", "resolveDependencies"}
_PACKAGE_KEYS = {"name", "defaultChannel", "channels", "minVersion", "maxVersion"}
_CHANNEL_KEYS = {"name", "minVersion", "maxVersion"}


@dataclass(frozen=True)
class OperatorCatalogSpec:
    """One ``operators[]`` entry."""

    catalog: Reference  # with its tag or digest
    filter: CatalogFilter
    target_repository: str  # path below each mirror
    target_tag: str
    index: int = 0

    @property
    def path(self) -> tuple:
        return ("operators", self.index)


def parse_operators(r, value: Any) -> tuple[OperatorCatalogSpec, ...]:
    """The ``operators`` list, read through the manifest's ``Reader`` (errors at file:line: field)."""
    if not isinstance(value, list) or not value:
        raise r.fail(("operators",), "must be a non-empty list of catalogs")
    specs = []
    targets: dict[tuple[str, str], int] = {}
    for i, item in enumerate(value):
        path = ("operators", i)
        item = r.mapping(item, path, _CATALOG_KEYS)
        if "catalog" not in item:
            raise r.fail(path, "catalog: missing (the catalog image, e.g. registry.redhat.io/redhat/"
                               "redhat-operator-index:v4.15)")
        ref = r.checked(path + ("catalog",), reference.parse, r.string(item["catalog"], path + ("catalog",)))
        full = r.boolean(item["full"], path + ("full",)) if "full" in item else False
        resolve = (r.boolean(item["resolveDependencies"], path + ("resolveDependencies",))
                   if "resolveDependencies" in item else False)
        packages = tuple(_package(r, p, path + ("packages", j), full)
                         for j, p in enumerate(_list(r, item.get("packages", []), path + ("packages",))))
        names = [p.name for p in packages]
        for j, name in enumerate(names):
            if name in names[:j]:
                raise r.fail(path + ("packages", j, "name"), f"package {name!r} is listed twice")
        target = ref.repository
        if "targetCatalog" in item:
            target = r.string(item["targetCatalog"], path + ("targetCatalog",)).strip("/")
            if not reference.is_valid_path(target):
                raise r.fail(path + ("targetCatalog",), f"invalid repository path {target!r}: lowercase "
                                                        "components separated by '/'")
        if "targetTag" in item:
            tag = r.checked(path + ("targetTag",), reference.validate_tag,
                            r.string(item["targetTag"], path + ("targetTag",)))
        elif ref.tag:
            tag = ref.tag
        else:
            raise r.fail(path + ("catalog",), "a catalog pinned by digest needs a targetTag: the filtered catalog "
                                              "is a new image, pushed by tag")
        if (target, tag) in targets:
            raise r.fail(path + ("targetCatalog",), f"operators[{targets[(target, tag)]}] also writes "
                                                    f"{target}:{tag}")
        targets[(target, tag)] = i
        specs.append(OperatorCatalogSpec(ref, CatalogFilter(packages, full, resolve), target, tag, i))
    return tuple(specs)


def _list(r, value: Any, path: tuple) -> list:
    if not isinstance(value, list):
        raise r.fail(path, f"must be a list, got {type(value).__name__}")
    return value


def _version(r, item: dict, key: str, path: tuple) -> Version | None:
    if key not in item:
        return None
    text = r.string(item[key], path + (key,))
    version = Version.parse(text.removeprefix("v"))
    if version is None:
        raise r.fail(path + (key,), f"{text!r} is not a version (MAJOR.MINOR.PATCH, as in a bundle's olm.package "
                                    "property)")
    return version


def _range(r, item: dict, path: tuple) -> tuple[Version | None, Version | None]:
    lo, hi = _version(r, item, "minVersion", path), _version(r, item, "maxVersion", path)
    if lo is not None and hi is not None and hi < lo:
        raise r.fail(path + ("maxVersion",), f"maxVersion {hi} is below minVersion {lo}")
    return lo, hi


def _package(r, item: Any, path: tuple, full: bool):
    item = r.mapping(item, path, _PACKAGE_KEYS)
    if "name" not in item:
        raise r.fail(path, "name: missing (the package name, as `mirrorsync catalog list` shows it)")
    name = r.string(item["name"], path + ("name",))
    lo, hi = _range(r, item, path)
    channels = []
    for k, ch in enumerate(_list(r, item.get("channels", []), path + ("channels",))):
        cpath = path + ("channels", k)
        ch = r.mapping(ch, cpath, _CHANNEL_KEYS)
        if "name" not in ch:
            raise r.fail(cpath, "name: missing")
        cname = r.string(ch["name"], cpath + ("name",))
        if cname in [c.name for c in channels]:
            raise r.fail(cpath + ("name",), f"channel {cname!r} is listed twice")
        clo, chi = _range(r, ch, cpath)
        if (clo or chi) and (lo or hi):
            raise r.fail(cpath + ("minVersion" if clo else "maxVersion",),
                         "give a version range for the package or for its channels, not both")
        channels.append(ChannelFilter(cname, clo, chi))
    if full and (lo or hi or any(c.min_version or c.max_version for c in channels)):
        raise r.fail(path, "full: true takes every bundle; it cannot be combined with minVersion/maxVersion")
    default = r.string(item["defaultChannel"], path + ("defaultChannel",)) if "defaultChannel" in item else None
    return PackageFilter(name, tuple(channels), lo, hi, default)
