"""The manifest's ``platform`` section: what it reads, and every mistake as one line with file, line and field."""

from __future__ import annotations

import os
import textwrap

import pytest

from mirrorsync.errors import InputError
from mirrorsync.openshift.releases.spec import DEFAULT_UPDATE_SERVICE
from mirrorsync.pipeline import sections

HEAD = """\
apiVersion: mirrorsync.dev/v1alpha1
kind: SyncManifest
mirrors: [mirror.example.com/ocp]
"""


def parse(body: str, file: str = "/srv/sync/m.yaml"):
    return sections.parse_manifest(HEAD + textwrap.dedent(body), file)


def test_a_platform_section_without_images_loads_with_oc_mirror_names():
    m = parse("""\
        platform:
          architectures: [amd64, multi]
          channels:
            - name: stable-4.15
              minVersion: 4.15.1
              maxVersion: 4.15.3
              shortestPath: true
            - name: fast-4.16
          releases:
            - quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64
          updateService: ./graph.json
          signatures: sigs/
        """)
    assert m.images == ()
    p = m.sections["platform"]
    assert p.architectures == ("amd64", "multi")
    assert [(c.name, str(c.min_version and c.min_version.release), c.shortest_path) for c in p.channels] == [
        ("stable-4.15", "(4, 15, 1)", True), ("fast-4.16", "None", False)]
    assert [str(r) for r in p.releases] == ["quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64"]
    # paths are the manifest's directory's, as the user reads them
    assert p.update_service == os.path.normpath("/srv/sync/graph.json")
    assert p.signatures == os.path.normpath("/srv/sync/sigs")


def test_defaults_are_amd64_and_the_public_update_service():
    p = parse("platform:\n  channels: [{name: stable-4.15}]\n").sections["platform"]
    assert p.architectures == ("amd64",) and p.update_service == DEFAULT_UPDATE_SERVICE and p.signatures is None


def test_a_manifest_without_platform_keeps_loading_as_before():
    m = parse("images:\n  - source: quay.io/a/b:1\n")
    assert "platform" not in m.sections and len(m.images) == 1


@pytest.mark.parametrize("body, where, message", [
    ("", ":1: images: missing", "or give a platform, operators or charts section"),
    ("platform: {}\n", ":4: platform:", "nothing selected"),
    ("platform:\n  chanels: []\n", ":5: platform.chanels:", "unknown field"),
    ("platform:\n  architectures: [x86_64]\n  releases: [quay.io/a/b:1]\n", ":5: platform.architectures[0]:",
     "must be one of amd64, arm64, ppc64le, s390x, multi"),
    ("platform:\n  channels:\n    - name: stable-4.15\n      minVersion: 4.15\n", ":7: platform.channels[0].minVersion:",
     "quote it"),
    ("platform:\n  channels:\n    - name: stable-4.15\n      minVersion: '4.15'\n",
     ":7: platform.channels[0].minVersion:", "not a release version"),
    ("platform:\n  channels:\n    - name: a\n      minVersion: 4.15.3\n      maxVersion: 4.15.1\n",
     ":8: platform.channels[0].maxVersion:", "lower than minVersion"),
    ("platform:\n  channels:\n    - name: a\n      shortestPath: true\n",
     ":7: platform.channels[0].shortestPath:", "needs minVersion or maxVersion"),
    ("platform:\n  channels:\n    - minVersion: 4.15.1\n", ":6: platform.channels[0]:", "name: missing"),
    ("platform:\n  channels: [{name: a}, {name: a}]\n", ":5: platform.channels[1].name:", "listed twice"),
    ("platform:\n  releases: [quay.io/a/b]\n", ":5: platform.releases[0]:", "by :tag or @digest"),
    ("platform:\n  releases: ['Not A Ref']\n", ":5: platform.releases[0]:", "invalid"),
    ("platform:\n  releases: [quay.io/a/b:1]\n  signatures: ftp://x/y\n", ":6: platform.signatures:",
     "only http://, https:// or a local path"),
    ("platform:\n  releases: [quay.io/a/b:1]\n  updateService: https://me:s3cret@graph.example.com/g\n",
     ":6: platform.updateService:", "must not carry credentials"),
])
def test_mistakes_are_one_line_naming_file_line_and_field(body, where, message):
    with pytest.raises(InputError) as err:
        parse(body, "m.yaml")
    text = str(err.value)
    assert text.startswith("m.yaml" + where) and message in text and "\n" not in text
    assert "s3cret" not in text


def test_update_url_override_is_the_graph_a_manifest_does_not_name_as_in_oc_mirror(monkeypatch):
    monkeypatch.setenv("UPDATE_URL_OVERRIDE", "http://osus.zone.example:8080/api/upgrades_info/v1/graph")
    spec = parse("platform: {channels: [{name: stable-4.15}], graph: true}\n").sections["platform"]
    assert spec.update_service == "http://osus.zone.example:8080/api/upgrades_info/v1/graph"
    # the graph data at the override's scheme and host, oc-mirror's graphURLFromUpdateURL
    assert spec.graph.data == "http://osus.zone.example:8080/api/upgrades_info/graph-data"
    named = parse("platform: {channels: [{name: stable-4.15}], updateService: https://osus.local/graph}\n")
    assert named.sections["platform"].update_service == "https://osus.local/graph"  # the manifest's own wins


def test_update_url_override_without_the_variable_is_the_public_service(monkeypatch):
    monkeypatch.delenv("UPDATE_URL_OVERRIDE", raising=False)
    assert parse("platform: {channels: [{name: stable-4.15}]}\n").sections["platform"].update_service == \
        DEFAULT_UPDATE_SERVICE
