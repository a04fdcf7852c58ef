"""The manifest's ``operators`` section: which operator catalogs to mirror, filtered to which packages.

Names and meaning as in oc-mirror's ImageSetConfiguration (``mirror.operators``); see the README and
:mod:`mirrorsync.openshift.catalogs.filter` for the selection rules.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

from ...ocilayout.image_layout import ImageLayout
from ...registry import reference
from ...registry.reference import Reference
from ...sync.semver import Version
from ...yamlsource import base_dir, local_path
from .filter import CatalogFilter, ChannelFilter, PackageFilter

_CATALOG_KEYS = {"catalog", "full", "packages", "targetCatalog", "targetTag", "resolveDependencies"}
_PACKAGE_KEYS = {"name", "defaultChannel", "channels", "minVersion", "maxVersion"}
_CHANNEL_KEYS = {"name", "minVersion", "maxVersion"}
OCI = "oci://"
# An oci:// catalog's name in the plan, the report's images and an export's layout (where the import finds it by
# that name): a domain of the reserved .invalid top-level domain (RFC 2606), which no registry can have, so that
# nothing is ever asked of it and no real image shares the name.
LAYOUT_REGISTRY = "oci-layout.invalid"
# oc-mirror v2's tag for an oci:// catalog without a targetTag (operator/filtered_collector.go, collectOperator)
LAYOUT_TAG = "latest"


@dataclass(frozen=True)
class OperatorCatalogSpec:
    """One ``operators[]`` entry."""

    catalog: Reference  # with its tag or digest
    filter: CatalogFilter
    target_repository: str  # path below each mirror
    target_tag: str
    index: int = 0
    layout: str | None = None  # oci:///path: the absolute path of the OCI layout holding the catalog

    @property
    def path(self) -> tuple:
        return ("operators", self.index)

    @property
    def name(self) -> str:
        """The catalog as the manifest names it (oci:// paths made absolute): the report's key for it."""
        return OCI + self.layout if self.layout else str(self.catalog)

    def layout_store(self) -> ImageLayout:
        """The layout of an oci:// catalog, its image under the target tag: one store per layout and state of its
        index.json in a process, so that a run checks it once and a later run sees it rewritten."""
        assert self.layout is not None
        try:
            st = os.stat(os.path.join(self.layout, "index.json"))
            stamp: tuple | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        return _layout_store(self.layout, self.target_tag, stamp)


@functools.lru_cache(maxsize=64)
def _layout_store(path: str, tag: str, index_stamp: tuple | None) -> ImageLayout:
    return ImageLayout(path, tag)


def parse_operators(r, value: Any, manifest_file: str = "") -> tuple[OperatorCatalogSpec, ...]:
    """The ``operators`` list, read through the manifest's ``Reader`` (errors at file:line: field); an oci://
    catalog's relative path is relative to the manifest's directory."""
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
        text = r.string(item["catalog"], path + ("catalog",))
        layout = _layout_path(r, text, path + ("catalog",), manifest_file) if text.startswith(OCI) else None
        ref = None if layout else r.checked(path + ("catalog",), reference.parse, text)
        full = r.boolean(item["full"], path + ("full",)) if "full" in item else False
        resolve = (r.boolean(item["resolveDependencies"], path + ("resolveDependencies",))
                   if "resolveDependencies" in item else False)
        packages = tuple(_package(r, p, path + ("packages", j), full)
                         for j, p in enumerate(_list(r, item.get("packages", []), path + ("packages",))))
        names = [p.name for p in packages]
        for j, name in enumerate(names):
            if name in names[:j]:
                raise r.fail(path + ("packages", j, "name"), f"package {name!r} is listed twice")
        if "targetCatalog" not in item:
            target = ref.repository if ref else _layout_repository(r, layout, path)
        else:
            target = r.string(item["targetCatalog"], path + ("targetCatalog",)).strip("/")
            if not reference.is_valid_path(target):
                raise r.fail(path + ("targetCatalog",), f"invalid repository path {target!r}: lowercase "
                                                        "components separated by '/'")
        if "targetTag" in item:
            tag = r.checked(path + ("targetTag",), reference.validate_tag,
                            r.string(item["targetTag"], path + ("targetTag",)))
        elif ref is None:
            tag = LAYOUT_TAG
        elif ref.tag:
            tag = ref.tag
        else:
            raise r.fail(path + ("catalog",), "a catalog pinned by digest needs a targetTag: the filtered catalog "
                                              "is a new image, pushed by tag")
        if (target, tag) in targets:
            raise r.fail(path + ("targetCatalog",), f"operators[{targets[(target, tag)]}] also writes "
                                                    f"{target}:{tag}")
        targets[(target, tag)] = i
        if ref is None:
            ref = reference.Reference(LAYOUT_REGISTRY, target, tag=tag)
        specs.append(OperatorCatalogSpec(ref, CatalogFilter(packages, full, resolve), target, tag, i, layout))
    return tuple(specs)


def _layout_path(r, text: str, path: tuple, manifest_file: str) -> str:
    """``oci:///abs/dir`` or ``oci://rel/dir`` (``oci://./dir``), relative to the manifest's directory."""
    rest = text[len(OCI):]
    if not rest or "\0" in rest:
        raise r.fail(path, f"{text!r}: expected oci:///path/to/layout (a directory holding an OCI image layout)")
    return local_path(base_dir(manifest_file), rest)


def _layout_repository(r, layout: str, path: tuple) -> str:
    """oc-mirror v2's destination for an oci:// catalog without a targetCatalog: the layout directory's base name
    (operator/filtered_collector.go, collectOperator: ``catalogName = path.Base(imgSpec.Reference)``; common.go,
    prepareD2MCopyBatch: ``dest = <destination>/<img.Name>:<targetTag or latest>``)."""
    name = os.path.basename(layout)
    if not reference.is_valid_path(name):
        raise r.fail(path + ("catalog",), f"the layout's directory name {name!r} is no repository name (lowercase "
                                          "letters, digits, '.', '_', '-'): give a targetCatalog")
    return name


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
