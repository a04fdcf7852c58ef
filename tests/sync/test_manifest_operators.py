"""The manifest's ``operators`` section: parsing, defaults, and one-line errors at file:line: field."""

import textwrap

import pytest

from mirrorsync.errors import InputError
from mirrorsync.pipeline import sections

HEAD = """\
apiVersion: mirrorsync.dev/v1alpha1
kind: SyncManifest
mirrors: [mirror.example.com:5000/ocp]
"""


def load(body: str):
    return sections.parse_manifest(HEAD + textwrap.dedent(body), "m.yaml")


def error(body: str) -> str:
    with pytest.raises(InputError) as info:
        load(body)
    assert info.value.exit_code == 2
    assert "\n" not in str(info.value)
    return str(info.value)


def test_operators_without_images_loads_with_the_issue_example():
    m = load("""
        operators:
          - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.15
            full: false
            packages:
              - name: web-terminal
              - name: advanced-cluster-management
                defaultChannel: release-2.10
                channels:
                  - name: release-2.10
                    minVersion: 2.10.1
                    maxVersion: 2.10.4
            targetCatalog: my/operator-index
            targetTag: v4.15-mirror
          - catalog: registry.redhat.io/redhat/certified-operator-index:v4.15
            resolveDependencies: true
    """)
    assert m.images == ()
    first, second = m.sections["operators"]
    assert first.catalog.name == "registry.redhat.io/redhat/redhat-operator-index" and first.catalog.tag == "v4.15"
    assert (first.target_repository, first.target_tag) == ("my/operator-index", "v4.15-mirror")
    acm = first.filter.packages[1]
    assert acm.default_channel == "release-2.10"
    assert [(c.name, str(c.min_version), str(c.max_version)) for c in acm.channels] == \
        [("release-2.10", "2.10.1", "2.10.4")]
    assert (second.target_repository, second.target_tag) == ("redhat/certified-operator-index", "v4.15")
    assert second.filter.resolve_dependencies and not second.filter.packages


def test_old_manifests_still_need_images():
    assert "m.yaml:1: images: missing" in error("")
    assert load("images: [{source: quay.io/a/b:1}]").sections.get("operators", ()) == ()


@pytest.mark.parametrize("body, expect", [
    ("operators: []", "m.yaml:4: operators: must be a non-empty list"),
    ("operators: [{full: true}]", "m.yaml:4: operators[0]: catalog: missing"),
    ("operators: [{catalog: 'Bad Ref'}]", "m.yaml:4: operators[0].catalog:"),
    ("operators: [{catalog: q.io/a/b@sha256:" + "0" * 64 + "}]", "needs a targetTag"),
    ("operators:\n  - catalog: q.io/a/b:1\n    packages: [{name: p, minVersion: '1.0'}]",
     "m.yaml:6: operators[0].packages[0].minVersion: '1.0' is not a version"),
    ("operators:\n  - catalog: q.io/a/b:1\n    packages: [{name: p, minVersion: 2.0.0, maxVersion: 1.0.0}]",
     "operators[0].packages[0].maxVersion: maxVersion 1.0.0 is below minVersion 2.0.0"),
    ("operators:\n  - catalog: q.io/a/b:1\n    packages:\n      - name: p\n        minVersion: 1.0.0\n"
     "        channels: [{name: c, maxVersion: 2.0.0}]",
     "m.yaml:9: operators[0].packages[0].channels[0].maxVersion: give a version range for the package or for its "
     "channels, not both"),
    ("operators:\n  - catalog: q.io/a/b:1\n    full: true\n    packages: [{name: p, minVersion: 1.0.0}]",
     "operators[0].packages[0]: full: true takes every bundle"),
    ("operators:\n  - catalog: q.io/a/b:1\n    packages: [{name: p}, {name: p}]",
     "operators[0].packages[1].name: package 'p' is listed twice"),
    ("operators:\n  - catalog: q.io/a/b:1\n    packages: [{name: p, channel: x}]",
     "operators[0].packages[0].channel: unknown field"),
    ("operators:\n  - catalog: q.io/a/b:1\n  - catalog: q.io/x/y:2\n    targetCatalog: a/b\n    targetTag: '1'",
     "m.yaml:7: operators[1].targetCatalog: operators[0] also writes a/b:1"),
    ("operators:\n  - catalog: q.io/a/b:1\n    targetCatalog: 'A/B'", "invalid repository path 'A/B'"),
])
def test_errors_name_file_line_and_field(body, expect):
    assert expect in error(body)


def test_oci_catalogs_take_oc_mirrors_destination_names_and_paths_relative_to_the_manifest(tmp_path):
    manifest = tmp_path / "conf" / "m.yaml"
    manifest.parent.mkdir()
    manifest.write_text(HEAD + textwrap.dedent("""
        operators:
          - catalog: oci://./layouts/redhat-operator-index
          - catalog: oci:///srv/catalogs/Custom_Index
            targetCatalog: olm/custom
            targetTag: v2
          - catalog: oci://../up/certified
    """))
    first, second, third = sections.load_manifest(str(manifest)).sections["operators"]
    # oc-mirror v2: the layout directory's base name, tag latest (operator/filtered_collector.go, collectOperator)
    assert first.layout == str(tmp_path / "conf" / "layouts" / "redhat-operator-index")
    assert (first.target_repository, first.target_tag) == ("redhat-operator-index", "latest")
    assert first.name == f"oci://{first.layout}"
    assert (second.layout, second.target_repository, second.target_tag) == ("/srv/catalogs/Custom_Index",
                                                                            "olm/custom", "v2")
    assert third.layout == str(tmp_path / "up" / "certified") and third.target_repository == "certified"
    # the name the plan and an export's layout carry it by: no registry anyone can reach
    assert str(first.catalog) == "oci-layout.invalid/redhat-operator-index:latest"
    assert sections.load_manifest(str(manifest)).source_hosts() == set()


def test_oci_catalog_whose_directory_is_no_repository_name_needs_a_target_catalog():
    assert error("""
        operators:
          - catalog: oci:///srv/catalogs/Custom_Index
    """) == ("m.yaml:6: operators[0].catalog: the layout's directory name 'Custom_Index' is no repository name "
             "(lowercase letters, digits, '.', '_', '-'): give a targetCatalog")
    assert error("""
        operators:
          - catalog: "oci://"
    """).startswith("m.yaml:6: operators[0].catalog: 'oci://': expected oci:///path/to/layout")


def test_two_oci_catalogs_to_one_destination_are_refused():
    assert "operators[0] also writes index:latest" in error("""
        operators:
          - catalog: oci:///a/index
          - catalog: oci:///b/index
    """)


def test_the_skopeo_engine_refuses_an_oci_catalog_at_its_line():
    from mirrorsync.pipeline.runner import Runner

    m = load("""
        operators:
          - catalog: oci:///a/index
    """)
    with pytest.raises(InputError) as info:
        Runner(m).refuse_for_skopeo()
    assert str(info.value) == ("m.yaml:6: operators[0].catalog: needs engine native (an oci:// catalog is read from "
                               "its layout by the native engine); drop --engine skopeo or options.engine: skopeo")
