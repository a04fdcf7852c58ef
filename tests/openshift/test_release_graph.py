"""The update graph: which releases a channel entry selects (head, range, shortest path) and the errors a graph
can give; fetched from a loopback update service and read from a local file."""

from __future__ import annotations

import json

import pytest

from mirrorsync.openshift.releases import graph
from mirrorsync.openshift.releases.graph import GraphError
from mirrorsync.openshift.releases.spec import ChannelSpec
from mirrorsync.sync.semver import Version
from devtools.openshift import GraphServer

D = "sha256:" + "a" * 64
VERSIONS = ["4.15.0", "4.15.1", "4.15.2", "4.15.3", "4.15.4"]


def doc(versions=VERSIONS, edges=((0, 1), (1, 2), (2, 3), (3, 4), (0, 2), (2, 4))) -> dict:
    # node order differs from version order on purpose: selection goes by version, never by position
    order = list(reversed(versions))
    return {"nodes": [{"version": v, "payload": f"quay.example.com/ocp/release@sha256:{str(i) * 64}",
                       "metadata": {}} for i, v in enumerate(order)],
            "edges": [[order.index(versions[a]), order.index(versions[b])] for a, b in edges]}


def g(**kw) -> graph.Graph:
    return graph.parse(json.dumps(doc(**kw)).encode(), "stable-4.15", "amd64", "graph.json")


def pick(gr, low=None, high=None, shortest=False) -> list[str]:
    spec = ChannelSpec("stable-4.15", Version.parse(low) if low else None, Version.parse(high) if high else None,
                       shortest)
    return [str(n) for n in graph.select(gr, spec)]


def test_no_bounds_takes_the_channel_head_only():
    assert pick(g()) == ["4.15.4"]


def test_min_only_takes_min_to_the_head():
    assert pick(g(), low="4.15.2") == ["4.15.2", "4.15.3", "4.15.4"]


def test_max_only_takes_the_lowest_to_max():
    assert pick(g(), high="4.15.1") == ["4.15.0", "4.15.1"]


def test_min_and_max_take_every_release_in_range():
    assert pick(g(), low="4.15.1", high="4.15.3") == ["4.15.1", "4.15.2", "4.15.3"]


def test_shortest_path_takes_only_the_releases_on_it():
    assert pick(g(), low="4.15.0", high="4.15.4", shortest=True) == ["4.15.0", "4.15.2", "4.15.4"]
    # ties go to the lower version, so the same graph always gives the same path
    tied = g(edges=((0, 1), (0, 2), (1, 3), (2, 3)))
    assert pick(tied, low="4.15.0", high="4.15.3", shortest=True) == ["4.15.0", "4.15.1", "4.15.3"]


def test_shortest_path_without_a_path_is_an_error():
    with pytest.raises(GraphError, match="no upgrade path from 4.15.3 to 4.15.0"):
        pick(g(), low="4.15.3", high="4.15.0", shortest=True)
    with pytest.raises(GraphError, match="no upgrade path from 4.15.0 to 4.15.4"):
        pick(g(edges=((0, 1),)), low="4.15.0", high="4.15.4", shortest=True)


def test_a_bound_the_channel_does_not_have_is_an_error():
    with pytest.raises(GraphError, match=r"has no release 4.15.9 \(maxVersion\); it has 4.15.0 to 4.15.4"):
        pick(g(), low="4.15.1", high="4.15.9")


def test_an_empty_channel_is_an_error():
    with pytest.raises(GraphError, match="has no releases"):
        pick(g(versions=[], edges=()))


@pytest.mark.parametrize("body, message", [
    (b"not json", "not JSON"),
    (b"[]", "no nodes list"),
    (json.dumps({"nodes": [{"version": "4.15", "payload": f"q.example.com/r@{D}"}]}).encode(), "not a release version"),
    (json.dumps({"nodes": [{"version": "4.15.0", "payload": "q.example.com/r:4.15.0"}]}).encode(), "is not by digest"),
    (json.dumps({"nodes": [{"version": "4.15.0", "payload": f"q.example.com/r@{D}"}], "edges": [[0, 1]]}).encode(),
     r"edges\[0\]"),
])
def test_a_broken_graph_is_one_clear_error(body, message):
    with pytest.raises(GraphError, match=message):
        graph.parse(body, "c", "amd64", "graph.json")


def test_fetch_asks_the_update_service_for_the_channel_and_arch_as_json():
    with GraphServer({("stable-4.15", "arm64"): doc()}) as server:
        got = graph.fetch(server.url, "stable-4.15", "arm64")
        assert [str(n) for n in got.nodes] == list(reversed(VERSIONS))
        assert server.requests == [{"channel": "stable-4.15", "arch": "arm64", "accept": "application/json"}]
        with pytest.raises(Exception, match="HTTP 404"):
            graph.fetch(server.url, "fast-4.15", "arm64")


def test_fetch_reads_a_local_file_and_says_which_is_missing(tmp_path):
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(doc()))
    assert len(graph.fetch(str(path), "stable-4.15", "amd64").nodes) == 5
    with pytest.raises(GraphError, match="cannot read the update graph .*nope.json"):
        graph.fetch(str(tmp_path / "nope.json"), "stable-4.15", "amd64")


def test_an_unreachable_update_service_is_a_graph_error(closed_port):
    from mirrorsync.registry.retry import RetryPolicy

    with pytest.raises(GraphError, match=f"127.0.0.1:{closed_port}"):
        graph.fetch(f"http://127.0.0.1:{closed_port}/graph", "stable-4.15", "amd64",
                    policy=RetryPolicy(attempts=1))
