"""``platform.graph``: true, false or the mapping; defaults; every mistake one line with file, line and field; and
manifests written before it load as they did."""

from __future__ import annotations

import os

import pytest

from mirrorsync.errors import InputError
from mirrorsync.openshift.releases.spec import DEFAULT_GRAPH_BASE, DEFAULT_GRAPH_DATA
from mirrorsync.pipeline import sections

HEAD = """\
apiVersion: mirrorsync.dev/v1alpha1
kind: SyncManifest
mirrors: [mirror.example.com/ocp]
platform:
  releases: [quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64]
"""


def graph_of(body: str, file: str = "/srv/sync/m.yaml"):
    return sections.parse_manifest(HEAD + body, file).sections["platform"].graph


def test_true_takes_the_defaults_and_false_or_absent_builds_nothing():
    g = graph_of("  graph: true\n")
    assert (str(g.base_image), g.data, g.namespace, g.replicas) == (
        DEFAULT_GRAPH_BASE, DEFAULT_GRAPH_DATA, "openshift-update-service", 2)
    assert graph_of("  graph: false\n") is None
    assert graph_of("") is None  # a manifest written before graph existed


def test_the_mapping_sets_each_field_and_a_local_data_path_is_the_manifests_directorys():
    g = graph_of("  graph: {baseImage: mirror.example.com/base/ubi, data: ./graph.tar.gz, namespace: osus, "
                 "replicas: 1}\n")
    assert str(g.base_image) == "mirror.example.com/base/ubi:latest"
    assert g.data == os.path.normpath("/srv/sync/graph.tar.gz")
    assert (g.namespace, g.replicas) == ("osus", 1)
    assert graph_of("  graph: {data: 'http://127.0.0.1:9/graph-data'}\n").data == "http://127.0.0.1:9/graph-data"


@pytest.mark.parametrize("body, where, message", [
    ("  graph: yes please\n", ":6: platform.graph:", "must be true, false or a mapping"),
    ("  graph: {base: x}\n", ":6: platform.graph.base:", "unknown field"),
    ("  graph: {baseImage: 'Not A Ref'}\n", ":6: platform.graph.baseImage:", "invalid"),
    ("  graph: {data: 'ftp://x/y'}\n", ":6: platform.graph.data:", "only http://, https:// or a local path"),
    ("  graph: {data: 'https://u:s3cret@h/g'}\n", ":6: platform.graph.data:", "must not carry credentials"),
    ("  graph: {namespace: Open_Shift}\n", ":6: platform.graph.namespace:", "not a namespace name"),
    ("  graph: {replicas: 0}\n", ":6: platform.graph.replicas:", "at least 1"),
    ("  graph: {replicas: '2'}\n", ":6: platform.graph.replicas:", "whole number"),
])
def test_mistakes_are_one_line_naming_file_line_and_field(body, where, message):
    with pytest.raises(InputError) as err:
        graph_of(body, "m.yaml")
    text = str(err.value)
    assert text.startswith("m.yaml" + where) and message in text and "\n" not in text
    assert "s3cret" not in text


def test_graph_without_any_release_is_refused_at_graph():
    text = "apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [m.example.com]\nplatform:\n  graph: true\n"
    with pytest.raises(InputError) as err:
        sections.parse_manifest(text, "m.yaml")
    assert str(err.value).startswith("m.yaml:5: platform.graph:") and "give channels or releases" in str(err.value)
