"""The FBC model and oc-mirror v2's filter rules, on the sample catalog's documents alone (no registry)."""

from __future__ import annotations

import json

import pytest
import yaml

from mirrorsync.openshift.catalogs import fbc
from mirrorsync.openshift.catalogs.filter import (CatalogFilter, ChannelFilter, FilterInputError, PackageFilter,
                                                  apply, select, without)
from mirrorsync.sync.semver import Version
from support.catalogs import catalog_files


def v(text: str) -> Version:
    return Version.parse(text)


@pytest.fixture(scope="module")
def catalog() -> fbc.Catalog:
    return fbc.load(catalog_files(), "configs")


def kept(sel) -> set[str]:
    return {b for _, b in sel.bundles()}


def heads(cat: fbc.Catalog) -> dict[tuple[str, str], list[str]]:
    return {(p.name, c.name): c.heads() for p in cat.packages.values() for c in p.channels.values()}


def test_reads_json_streams_and_multi_document_yaml(catalog):
    assert sorted(catalog.packages) == ["alpha", "beta", "delta", "gamma"]
    assert sorted(catalog.packages["beta"].bundles) == ["beta.v1.0.0", "beta.v2.0.0", "beta.v2.1.0"]
    assert catalog.packages["alpha"].channels["stable"].heads() == ["alpha.v1.2.0"]
    assert [o["schema"] for o in catalog.packages["alpha"].others] == ["olm.deprecations", "example.com.custom"]
    assert catalog.packages["alpha"].bundles["alpha.v1.1.0"].version == v("1.1.0")


def test_broken_documents_are_catalog_errors_naming_the_file():
    with pytest.raises(fbc.CatalogError, match="configs/x/catalog.json: invalid JSON"):
        fbc.load({"configs/x/catalog.json": b'{"schema": "olm.package", "name": "x"} {oops'}, "configs")
    with pytest.raises(fbc.CatalogError, match="configs/x/c.yaml: a document without a schema"):
        fbc.load({"configs/x/c.yaml": b"name: x\n"}, "configs")
    with pytest.raises(fbc.CatalogError, match="names package 'nope'"):
        fbc.load({"configs/x/c.json": b'{"schema": "olm.channel", "package": "nope", "name": "a"}'}, "configs")
    with pytest.raises(fbc.CatalogError, match="package name '../bin' is not a name"):
        fbc.load({"configs/x/c.json": b'{"schema": "olm.package", "name": "../bin"}'}, "configs")
    # aliases would expand when the documents are written back: a small file could become gigabytes
    laughs = b"schema: x\na: &a [1, 1]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    with pytest.raises(fbc.CatalogError, match="aliases"):
        fbc.load({"configs/x/c.yaml": laughs}, "configs")
    with pytest.raises(fbc.CatalogError, match="nested too deeply"):
        fbc.load({"configs/x/c.json": b"{\"a\": " + b"[" * 100000}, "configs")
    # files outside the root, hidden files and other suffixes are not documents
    assert fbc.load({"other/c.json": b"{", "configs/.hidden/c.json": b"{", "configs/x/README": b"{"},
                    "configs").packages == {}


def test_render_is_deterministic_and_round_trips(catalog):
    files = fbc.render(catalog, "configs")
    assert files == fbc.render(fbc.load(files, "configs"), "configs")
    assert sorted(files) == ["configs/alpha/catalog.json", "configs/beta/catalog.json", "configs/delta/catalog.json",
                             "configs/gamma/catalog.json"]
    docs = fbc.parse_documents(files["configs/alpha/catalog.json"], "x")
    assert docs[-1] == {"schema": "example.com.custom", "package": "alpha", "anything": {"kept": ["as", "it", "is"]}}


def test_no_packages_keeps_the_head_of_every_channel(catalog):
    sel = select(catalog, CatalogFilter())
    assert kept(sel) == {"alpha.v1.2.0", "alpha.v1.3.0", "beta.v1.0.0", "beta.v2.1.0", "gamma.v0.1.0",
                         "delta.v3.0.0"}
    assert sel.reasons[("alpha", "alpha.v1.3.0")] == "head of channel fast"
    filtered = apply(catalog, sel)
    assert all(len(h) == 1 for h in heads(filtered).values())
    assert filtered.packages["alpha"].default_channel == "stable"


def test_full_without_packages_is_the_catalog_unchanged(catalog):
    sel = select(catalog, CatalogFilter(full=True))
    assert sel.unchanged and apply(catalog, sel) is catalog
    assert len(kept(sel)) == 10


def test_package_without_channels_keeps_its_heads_and_full_keeps_every_bundle(catalog):
    sel = select(catalog, CatalogFilter(packages=(PackageFilter("alpha"),)))
    assert kept(sel) == {"alpha.v1.2.0", "alpha.v1.3.0"}
    sel = select(catalog, CatalogFilter(packages=(PackageFilter("alpha"),), full=True))
    assert kept(sel) == {f"alpha.v{x}" for x in ("1.0.0", "1.1.0", "1.1.1", "1.2.0", "1.3.0")}
    assert all(len(h) == 1 for h in heads(apply(catalog, sel)).values())


def test_listed_channels_only(catalog):
    sel = select(catalog, CatalogFilter(packages=(PackageFilter("alpha", channels=(ChannelFilter("stable"),)),)))
    filtered = apply(catalog, sel)
    assert kept(sel) == {"alpha.v1.2.0"}
    assert list(filtered.packages["alpha"].channels) == ["stable"]
    # the deprecation of the channel that is gone goes too (opm refuses it); the kept one stays
    dep = [o for o in filtered.packages["alpha"].others if o["schema"] == "olm.deprecations"]
    assert dep == []  # 1.0.0 and fast are both gone


@pytest.mark.parametrize("lo, hi, expect", [
    # in range + the replaces chain from the highest down; 1.1.1 is skipped by 1.2.0, so it may stay
    ("1.1.0", "1.2.0", {"1.1.0", "1.1.1", "1.2.0"}),
    ("1.0.0", "1.1.1", {"1.0.0", "1.1.0", "1.1.1"}),
    ("1.1.1", "1.2.0", {"1.2.0", "1.1.1"}),  # 1.1.0 is below the range: the chain stops there
    (None, "1.1.0", {"1.0.0", "1.1.0"}),
    ("1.2.0", None, {"1.2.0"}),
    ("5.0.0", None, set()),
])
def test_channel_version_range_keeps_one_head(catalog, lo, hi, expect):
    cf = ChannelFilter("stable", v(lo) if lo else None, v(hi) if hi else None)
    flt = CatalogFilter(packages=(PackageFilter("alpha", channels=(cf,), default_channel=None),))
    if not expect:
        with pytest.raises(FilterInputError, match="default channel 'stable' of package 'alpha' is filtered out"):
            select(catalog, flt)
        return
    sel = select(catalog, flt)
    assert kept(sel) == {f"alpha.v{x}" for x in expect}
    assert all(len(h) == 1 for h in heads(apply(catalog, sel)).values())


def test_a_bundle_in_range_off_the_path_would_be_a_second_head_and_is_left_out():
    docs = [{"schema": "olm.package", "name": "p", "defaultChannel": "c"},
            {"schema": "olm.channel", "package": "p", "name": "c", "entries": [
                {"name": "p.v1"}, {"name": "p.v2", "replaces": "p.v1"}, {"name": "p.v2-hotfix", "replaces": "p.v1"},
                {"name": "p.v3", "replaces": "p.v2"}]}]
    for name, version in (("p.v1", "1.0.0"), ("p.v2", "2.0.0"), ("p.v2-hotfix", "2.0.1"), ("p.v3", "3.0.0")):
        docs.append({"schema": "olm.bundle", "package": "p", "name": name, "image": f"r.example.com/p@{name}",
                     "properties": [{"type": "olm.package", "value": {"packageName": "p", "version": version}}]})
    cat = fbc.from_documents([(d, "x") for d in docs])
    sel = select(cat, CatalogFilter(packages=(PackageFilter("p", min_version=v("1.0.0"), max_version=v("3.0.0")),)))
    assert kept(sel) == {"p.v1", "p.v2", "p.v3"}
    assert sel.left_out == [{"package": "p", "bundle": "p.v2-hotfix",
                             "reason": "in 1.0.0..3.0.0 but off the upgrade path to p.v3: keeping it would give "
                                       "channel c a second head"}]
    assert heads(apply(cat, sel)) == {("p", "c"): ["p.v3"]}


def test_package_level_range_applies_to_every_channel(catalog):
    sel = select(catalog, CatalogFilter(packages=(PackageFilter("alpha", min_version=v("1.2.0"),
                                                                max_version=v("1.3.0")),)))
    assert kept(sel) == {"alpha.v1.2.0", "alpha.v1.3.0"}
    assert apply(catalog, sel).packages["alpha"].channels["stable"].heads() == ["alpha.v1.2.0"]


def test_filtered_out_default_channel_needs_default_channel(catalog):
    flt = CatalogFilter(packages=(PackageFilter("beta", channels=(ChannelFilter("release-1"),)),))
    with pytest.raises(FilterInputError) as err:
        select(catalog, flt)
    assert err.value.path == ("packages", 0)
    assert "default channel 'release-2' of package 'beta' is filtered out" in err.value.message
    flt = CatalogFilter(packages=(PackageFilter("beta", channels=(ChannelFilter("release-1"),),
                                                default_channel="release-1"),))
    filtered = apply(catalog, select(catalog, flt))
    assert filtered.packages["beta"].default_channel == "release-1"
    assert filtered.packages["beta"].doc["defaultChannel"] == "release-1"
    # the original document is not changed by the filter
    assert catalog.packages["beta"].default_channel == "release-2"


def test_default_channel_must_be_a_kept_channel(catalog):
    flt = CatalogFilter(packages=(PackageFilter("beta", channels=(ChannelFilter("release-1"),),
                                                default_channel="release-2"),))
    with pytest.raises(FilterInputError) as err:
        select(catalog, flt)
    assert err.value.path == ("packages", 0, "defaultChannel")


def test_unknown_package_and_channel_are_input_errors_at_their_field(catalog):
    with pytest.raises(FilterInputError) as err:
        select(catalog, CatalogFilter(packages=(PackageFilter("alpha"), PackageFilter("nope"))))
    assert err.value.path == ("packages", 1, "name") and "'nope' is not in the catalog" in err.value.message
    with pytest.raises(FilterInputError) as err:
        select(catalog, CatalogFilter(packages=(PackageFilter("alpha", channels=(ChannelFilter("beta"),)),)))
    assert err.value.path == ("packages", 0, "channels", 0, "name")
    assert "has no channel 'beta' (it has: fast, stable)" in err.value.message


def test_dependencies_are_not_followed_unless_asked(catalog):
    flt = CatalogFilter(packages=(PackageFilter("beta"),))
    assert {p for p, _ in select(catalog, flt).bundles()} == {"beta"}
    sel = select(catalog, CatalogFilter(packages=(PackageFilter("beta"),), resolve_dependencies=True))
    assert {p for p, _ in sel.bundles()} == {"beta", "gamma", "delta"}
    assert sel.added == [
        {"package": "gamma", "reason": "olm.package.required >=0.1.0 of bundle beta.v2.1.0"},
        {"package": "delta", "reason": "olm.gvk.required delta.example.com/v1 Delta of bundle beta.v2.1.0"}]
    assert sel.reasons[("gamma", "gamma.v0.1.0")].startswith("head of channel stable (dependency: ")


def test_a_channel_with_two_heads_is_a_catalog_error():
    docs = [{"schema": "olm.package", "name": "p", "defaultChannel": "c"},
            {"schema": "olm.channel", "package": "p", "name": "c", "entries": [{"name": "a"}, {"name": "b"}]}]
    cat = fbc.from_documents([(d, "x") for d in docs])
    with pytest.raises(fbc.CatalogError, match="has 2 heads"):
        select(cat, CatalogFilter())


def test_without_failed_bundles_the_channels_keep_one_head(catalog):
    sel = select(catalog, CatalogFilter(packages=(PackageFilter("alpha"),), full=True))
    # the middle of stable's chain fails: 1.0.0 is no longer reachable from the head, so it goes too
    less = without(catalog, sel, {("alpha", "alpha.v1.1.0"): "alpha-operand failed"})
    assert kept(less) == {"alpha.v1.1.1", "alpha.v1.2.0", "alpha.v1.3.0"}
    assert {e["bundle"]: e["reason"].split(" ")[0] for e in less.left_out} == {"alpha.v1.1.0": "alpha-operand",
                                                                                 "alpha.v1.0.0": "no"}
    assert all(len(h) == 1 for h in heads(apply(catalog, less)).values())
    # the default channel left empty takes the package out
    gone = without(catalog, sel, {("alpha", f"alpha.v{x}"): "failed" for x in ("1.0.0", "1.1.0", "1.1.1", "1.2.0")})
    assert kept(gone) == set() and "alpha" not in apply(catalog, gone).packages


def test_unknown_schema_and_kept_deprecations_survive(catalog):
    sel = select(catalog, CatalogFilter(packages=(PackageFilter("alpha"),), full=True))
    out = apply(catalog, sel)
    others = out.packages["alpha"].others
    assert others == catalog.packages["alpha"].others
    rendered = json.loads(fbc.render(out, "configs")["configs/alpha/catalog.json"].split(b"\n}\n")[0] + b"\n}")
    assert rendered["schema"] == "olm.package"


def test_yaml_catalog_documents_keep_their_content(catalog):
    beta_yaml = yaml.safe_load_all(catalog_files()["configs/beta/catalog.yaml"])
    assert [d["name"] for d in beta_yaml if d["schema"] == "olm.bundle"] == sorted(catalog.packages["beta"].bundles)


def test_a_bundle_without_an_image_needs_only_its_related_images():
    docs = [{"schema": "olm.package", "name": "p", "defaultChannel": "c"},
            {"schema": "olm.channel", "package": "p", "name": "c", "entries": [{"name": "p.v1"}]},
            {"schema": "olm.bundle", "package": "p", "name": "p.v1",
             "properties": [{"type": "olm.bundle.object", "value": {"data": "e30="}}],
             "relatedImages": [{"name": "op", "image": "r.example.com/op@sha256:" + "1" * 64}, {"name": "x"}]}]
    cat = fbc.from_documents([(d, "x") for d in docs])
    from mirrorsync.openshift.catalogs.filter import images_of
    assert images_of(cat, select(cat, CatalogFilter())) == {("p", "p.v1"): ["r.example.com/op@sha256:" + "1" * 64]}
