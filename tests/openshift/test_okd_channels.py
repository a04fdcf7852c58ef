"""``platform.channels[]``: ``type: okd`` (OKD's update service, or the channel's own ``updateService``), ``full: true``
(every release of the channel), and an ocp and an okd channel of one name refused; the OKD graph asked over a
loopback update service, with a warning for an architecture OKD does not serve."""

from __future__ import annotations

import json
import logging

import pytest

from mirrorsync.errors import InputError
from mirrorsync.openshift.releases import graph, planning, spec as spec_mod
from mirrorsync.openshift.releases.spec import DEFAULT_UPDATE_SERVICE, OKD_UPDATE_SERVICE, ChannelSpec
from mirrorsync.pipeline import sections
from mirrorsync.sync.semver import Version
from devtools.openshift import GraphServer

HEAD = "apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [mirror.example.com/ocp]\nplatform:\n"


def platform_of(body: str, file: str = "/srv/sync/m.yaml"):
    return sections.parse_manifest(HEAD + body, file).sections["platform"]


def test_an_okd_channel_reads_okds_graph_unless_it_names_its_own_and_ocp_keeps_platform_update_service():
    p = platform_of("  updateService: ./ocp-graph.json\n  channels:\n  - name: stable-4.15\n"
                    "  - {name: stable-scos-4, type: okd}\n"
                    "  - {name: 4-stable, type: okd, updateService: ./okd.json}\n")
    ocp, okd, own = p.channels
    assert (ocp.type, okd.type, own.type) == ("ocp", "okd", "okd")
    assert p.graph_location(ocp) == "/srv/sync/ocp-graph.json"
    assert p.graph_location(okd) == OKD_UPDATE_SERVICE == "https://origin-release.ci.openshift.org/graph"
    assert p.graph_location(own) == "/srv/sync/okd.json"
    # a manifest written before type existed: ocp, from the default service
    old = platform_of("  channels:\n  - name: stable-4.15\n")
    assert old.channels[0].type == "ocp" and old.graph_location(old.channels[0]) == DEFAULT_UPDATE_SERVICE
    assert (old.channels[0].full, old.kubevirt) == (False, False)


@pytest.mark.parametrize("body, where, message", [
    ("  channels:\n  - {name: okd-4, type: fcos}\n", ":6: platform.channels[0].type:", "must be one of ocp, okd"),
    ("  channels:\n  - {name: stable-4, type: okd}\n  - {name: stable-4}\n", ":7: platform.channels[1].name:",
     "already listed as type okd: an ocp and an okd channel cannot share a name"),
    ("  channels:\n  - {name: stable-4}\n  - {name: stable-4, type: okd}\n", ":7: platform.channels[1].name:",
     "already listed as type ocp"),
    ("  channels:\n  - {name: stable-4}\n  - {name: stable-4}\n", ":7: platform.channels[1].name:", "listed twice"),
    ("  channels:\n  - {name: s, full: maybe}\n", ":6: platform.channels[0].full:", "true or false"),
    ("  channels:\n  - {name: s, full: true, minVersion: 4.1.0, shortestPath: true}\n",
     ":6: platform.channels[0].full:", "cannot go with shortestPath"),
    ("  channels:\n  - {name: s, type: okd, updateService: 'ftp://x/g'}\n",
     ":6: platform.channels[0].updateService:", "only http://, https:// or a local path"),
    ("  releases: [quay.io/o/r:1]\n  kubeVirtContainer: 'yes'\n", ":6: platform.kubeVirtContainer:", "true or false"),
])
def test_mistakes_are_one_line_at_the_entry(body, where, message):
    with pytest.raises(InputError) as err:
        platform_of(body, "m.yaml")
    text = str(err.value)
    assert text.startswith("m.yaml" + where), text
    assert message in text and "\n" not in text


def nodes(versions):
    return {"nodes": [{"version": v, "payload": f"quay.io/openshift/okd@sha256:{str(i) * 64}"}
                      for i, v in enumerate(versions)], "edges": [[0, 1], [1, 2]]}


def test_full_takes_every_release_of_the_channel_and_with_bounds_all_between():
    g = graph.parse(json.dumps(nodes(["4.15.2", "4.15.0", "4.15.1"])).encode(), "c", "amd64", "g.json")
    assert [str(n) for n in graph.select(g, ChannelSpec("c", full=True))] == ["4.15.0", "4.15.1", "4.15.2"]
    assert [str(n) for n in graph.select(g, ChannelSpec("c", Version.parse("4.15.1"), full=True))] == \
        ["4.15.1", "4.15.2"]
    assert [str(n) for n in graph.select(g, ChannelSpec("c"))] == ["4.15.2"]  # without full: the head


def test_each_channel_asks_its_own_graph_and_okd_for_another_architecture_is_a_warning(monkeypatch, caplog):
    okd = {"nodes": [{"version": "4.15.0-okd-scos.1", "payload": "quay.io/okd/scos-release@sha256:" + "1" * 64}],
           "edges": []}
    ocp = {"nodes": [{"version": "4.15.3", "payload": "quay.io/ocp/release@sha256:" + "2" * 64}], "edges": []}
    with GraphServer({("stable-scos-4", "amd64"): okd, ("stable-scos-4", "arm64"): okd}) as okd_server, \
            GraphServer({("stable-4.15", "amd64"): ocp}) as ocp_server:
        p = platform_of(f"  updateService: '{ocp_server.url}'\n  channels:\n  - name: stable-4.15\n"
                        f"  - {{name: stable-scos-4, type: okd, updateService: '{okd_server.url}'}}\n")
        graph_for = planning.graph_reader(p, None)
        assert str(graph_for("stable-4.15", "amd64").nodes[0].payload).startswith("quay.io/ocp/release@")
        assert str(graph_for("stable-scos-4", "arm64").nodes[0].payload).startswith("quay.io/okd/scos-release@")
        assert [r["channel"] for r in ocp_server.requests] == ["stable-4.15"]
        assert [(r["channel"], r["arch"]) for r in okd_server.requests] == [("stable-scos-4", "arm64")]
        # the channel names its own service: no word about OKD's architectures
        assert "serves amd64 releases only" not in caplog.text

        # on OKD's own service (here the loopback one stands in for it)
        monkeypatch.setattr(spec_mod, "OKD_UPDATE_SERVICE", okd_server.url)
        q = platform_of("  architectures: [amd64, arm64]\n  channels:\n  - {name: stable-scos-4, type: okd}\n")
        with caplog.at_level(logging.WARNING):
            graph_for = planning.graph_reader(q, None)
            graph_for("stable-scos-4", "amd64")
            assert "serves amd64 releases only" not in caplog.text
            graph_for("stable-scos-4", "arm64")
        assert "channel stable-scos-4 (okd, arm64): OKD's update service serves amd64 releases only" in caplog.text
        assert okd_server.requests[-2:] == [{"channel": "stable-scos-4", "arch": a, "accept": "application/json"}
                                            for a in ("amd64", "arm64")]


def test_okd_versions_select_in_semver_order_and_bound_the_range():
    versions = ["4.17.0-okd-scos.10", "4.17.0-okd-scos.2", "4.16.0-okd-scos.1", "4.17.0-okd-scos.9"]
    g = graph.parse(json.dumps(nodes(versions)).encode(), "stable-scos-4", "amd64", "g.json")
    p = platform_of("  channels:\n  - {name: stable-scos-4, type: okd, minVersion: 4.17.0-okd-scos.2, full: true}\n")
    assert [str(n) for n in graph.select(g, p.channels[0])] == [
        "4.17.0-okd-scos.2", "4.17.0-okd-scos.9", "4.17.0-okd-scos.10"]
    assert [str(n) for n in graph.select(g, ChannelSpec("stable-scos-4", type="okd"))] == ["4.17.0-okd-scos.10"]


def test_an_okd_graph_keeps_only_the_releases_whose_metadata_lists_the_channel():
    # an answer that carries other streams' releases too (OKD's release controller has been reported to ignore
    # ?channel=): what lists other channels only is left out with its edges; what lists none is kept
    def node(version, channels):
        meta = {graph.CHANNELS_KEY: channels} if channels is not None else {}
        return {"version": version, "payload": f"quay.io/okd/scos-release@sha256:{version[-1] * 64}", "metadata": meta}

    doc = {"nodes": [node("4.17.0-okd-scos.1", "stable-scos-4,next-scos-4"),
                     node("4.18.0-okd-scos.ec.2", "next-scos-4"),
                     node("4.17.0-okd-scos.3", "stable-scos-4"), node("4.17.0-okd-scos.4", None)],
           "edges": [[0, 1], [1, 2], [0, 2], [2, 3]]}
    with GraphServer({("stable-scos-4", "amd64"): doc, ("stable-4.17", "amd64"): doc}) as server:
        p = platform_of(f"  updateService: '{server.url}'\n  channels:\n  - name: stable-4.17\n"
                        f"  - {{name: stable-scos-4, type: okd, updateService: '{server.url}'}}\n")
        graph_for = planning.graph_reader(p, None)
        okd = graph_for("stable-scos-4", "amd64")
        ocp = graph_for("stable-4.17", "amd64")  # an ocp channel's answer is taken as the service gives it
    assert [str(n) for n in okd.nodes] == ["4.17.0-okd-scos.1", "4.17.0-okd-scos.3", "4.17.0-okd-scos.4"]
    assert okd.edges == ((0, 1), (1, 2))
    assert len(ocp.nodes) == 4 and len(ocp.edges) == 4
    assert [str(n) for n in graph.select(okd, ChannelSpec("stable-scos-4", full=True, type="okd"))] == [
        "4.17.0-okd-scos.1", "4.17.0-okd-scos.3", "4.17.0-okd-scos.4"]
