"""``mirrorsync catalog list``: what a catalog offers, as a user needs it to write the ``operators`` filter."""

from __future__ import annotations

import os

from ...errors import InputError
from ...ocilayout.image_layout import ImageLayout
from ...registry import reference
from ...sync.manifest import SyncManifest
from ...sync.semver import Version
from . import fbc
from .planning import read_catalog
from .spec import LAYOUT_TAG, OCI


def read(text: str, *, manifest: SyncManifest | None = None, insecure: bool = False,
         auth_file: str | None = None) -> tuple[str, str, fbc.Catalog]:
    """(name, digest, FBC) of the catalog ``text`` names (an image reference, or ``oci:///path`` of a layout),
    with the registry settings of ``manifest`` (or, with ``insecure``, TLS unverified and plain HTTP allowed for
    the catalog's host)."""
    from ...sync.engines import Clients

    if text.startswith(OCI):  # a layout on disk, checked whole first as a run checks it
        layout = ImageLayout(os.path.abspath(os.path.expanduser(text[len(OCI):])), LAYOUT_TAG)
        layout.check()
        digest, catalog = read_catalog(layout, "", LAYOUT_TAG)
        _check_is_catalog(catalog, f"{text}@{digest}")
        return layout.describe(), digest, catalog
    ref = reference.parse(text)
    if ref.tag is None and ref.digest is None:
        ref = ref.with_tag("latest")
    if manifest is None:
        manifest = SyncManifest(file="", mirrors=(), images=())
    if insecure:
        manifest = manifest.with_insecure(ref.registry)
    clients = Clients.for_run(manifest, auth_file=auth_file)
    try:
        digest, catalog = read_catalog(clients.get(ref.registry), ref.repository, ref.digest or ref.tag)
    finally:
        clients.close()
    _check_is_catalog(catalog, f"{ref.name}@{digest}")
    return ref.name, digest, catalog


def _check_is_catalog(catalog: fbc.Catalog, where: str) -> None:
    """An image with no package in its file-based catalog is not a catalog: what the registry holds there is at
    fault, so exit 1 (``CatalogError``), as ``release info`` on an image that is no release; printing an empty list
    would pass for an answer."""
    if not catalog.packages:
        raise fbc.CatalogError(f"{where} is not an operator catalog: no file-based catalog packages under its "
                               f"{fbc.CONFIGS_LABEL} label's directory (default {fbc.DEFAULT_CONFIGS})")


def lines(catalog: fbc.Catalog, package: str | None = None) -> list[str]:
    """Packages with their default channel, channels with their head and versions; with ``package``, that
    package's every entry and its upgrade edges."""
    if package is not None and package not in catalog.packages:
        raise InputError(f"package {package!r} is not in the catalog", field="--package")
    out = []
    for name in sorted(catalog.packages) if package is None else [package]:
        pkg = catalog.packages[name]
        out.append(f"{name} (default channel {pkg.default_channel})")
        for cname in sorted(pkg.channels):
            ch = pkg.channels[cname]
            head = ", ".join(ch.heads()) or "none"
            versions = [_version(pkg, e.name) for e in ch.entries]
            out.append(f"  {cname}{' (default)' if cname == pkg.default_channel else ''}: head {head}; "
                       f"{len(ch.entries)} bundles, versions {_span(versions)}")
            if package is None:
                continue
            for e in ch.entries:
                edges = ([f"replaces {e.replaces}"] if e.replaces else []) + \
                        ([f"skips {', '.join(e.skips)}"] if e.skips else []) + \
                        ([f"skipRange {e.skip_range}"] if e.skip_range else [])
                out.append(f"    {e.name} {_version(pkg, e.name)}" + (f"  ({'; '.join(edges)})" if edges else ""))
    return out


def _version(pkg: fbc.Package, name: str) -> str:
    b = pkg.bundles.get(name)
    return b.version_text if b and b.version_text else "?"


def _span(versions: list[str]) -> str:
    known = sorted({v for v in versions if v != "?"}, key=lambda v: Version.parse(v) or Version(0, 0, 0))
    if not known:
        return "unknown"
    return known[0] if len(known) == 1 else f"{known[0]} .. {known[-1]}"
