"""``shortestPath: true`` with one bound (issue 36, item 4), as oc-mirror takes it: only ``minVersion`` is the path
from it to the channel head, only ``maxVersion`` the path from the channel's lowest release to it; with neither it
is refused where it is written."""

from __future__ import annotations

import json

import pytest

from mirrorsync.errors import InputError
from mirrorsync.openshift.releases import graph
from mirrorsync.openshift.releases.spec import ChannelSpec
from mirrorsync.pipeline.sections import parse_manifest
from mirrorsync.sync.semver import Version

# 4.16.0 .. 4.16.5, listed out of version order; edges 0→1 1→2 2→3 3→4 4→5 and the jumps 1→3 3→5 0→2
VERSIONS = ["4.16.3", "4.16.0", "4.16.5", "4.16.1", "4.16.4", "4.16.2"]
EDGES = (("4.16.0", "4.16.1"), ("4.16.1", "4.16.2"), ("4.16.2", "4.16.3"), ("4.16.3", "4.16.4"),
         ("4.16.4", "4.16.5"), ("4.16.1", "4.16.3"), ("4.16.3", "4.16.5"), ("4.16.0", "4.16.2"))


def channel_graph() -> graph.Graph:
    doc = {"nodes": [{"version": v, "payload": f"registry.example.net/ocp/release@sha256:{str(i) * 64}",
                      "metadata": {}} for i, v in enumerate(VERSIONS)],
           "edges": [[VERSIONS.index(a), VERSIONS.index(b)] for a, b in EDGES]}
    return graph.parse(json.dumps(doc).encode(), "fast-4.16", "amd64", "graph.json")


def path(low=None, high=None) -> list[str]:
    spec = ChannelSpec("fast-4.16", Version.parse(low) if low else None, Version.parse(high) if high else None, True)
    return [str(n) for n in graph.select(channel_graph(), spec)]


def test_min_only_is_the_shortest_path_from_it_to_the_head():
    assert path(low="4.16.1") == ["4.16.1", "4.16.3", "4.16.5"]
    assert path(low="4.16.5") == ["4.16.5"]


def test_max_only_is_the_shortest_path_from_the_lowest_release_to_it():
    assert path(high="4.16.2") == ["4.16.0", "4.16.2"]
    # 4.16.0 → 4.16.3 is two hops through 4.16.1 or 4.16.2: the tie goes to the lower version
    assert path(high="4.16.3") == ["4.16.0", "4.16.1", "4.16.3"]
    assert path(high="4.16.0") == ["4.16.0"]


def test_both_ends_still_work_and_neither_is_refused_where_it_is_written():
    assert path(low="4.16.0", high="4.16.4") == ["4.16.0", "4.16.1", "4.16.3", "4.16.4"]
    text = ("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [mirror.example.net]\n"
            "platform:\n  channels:\n  - name: fast-4.16\n    shortestPath: true\n")
    with pytest.raises(InputError) as err:
        parse_manifest(text, "m.yaml")
    assert str(err.value).startswith("m.yaml:7: platform.channels[0].shortestPath: needs minVersion or maxVersion")
    for bound in ("minVersion", "maxVersion"):
        one = text.replace("    shortestPath", f"    {bound}: 4.16.2\n    shortestPath")
        [channel] = parse_manifest(one, "m.yaml").sections["platform"].channels
        assert channel.shortest_path
