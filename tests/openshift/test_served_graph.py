"""The update graph an update service over the mirrored releases serves (``plan``): the mirrored releases are the
nodes, the upgrades their metadata names between two of them the edges, per architecture; an upgrade from a
release that is not mirrored is listed as not offered (cincinnati prunes the abstract node it would need)."""

from __future__ import annotations

from mirrorsync.openshift.releases import served
from mirrorsync.openshift.releases.payload import Release
from mirrorsync.openshift.releases.select import PlannedRelease, ReleasePlan, Wanted
from mirrorsync.registry.reference import parse


def planned(version, previous, arch="amd64"):
    digest = "sha256:" + str(len(version) % 10) * 63 + version[-1]
    return PlannedRelease(Wanted(parse(f"q.io/ocp/release@{digest}")),
                          Release(digest, version, tuple(previous), (), False, arch), f"{version}-x", arch=arch)


def test_nodes_are_the_mirrored_releases_and_edges_only_those_between_two_of_them():
    rplan = ReleasePlan(releases=[planned("4.15.10", ["4.15.2", "4.15.9", "4.15.1"]), planned("4.15.2", ["4.15.1"]),
                                  planned("4.15.9", ["4.15.2"]), planned("4.15.2", ["4.15.0"], "arm64")])
    g = served.served_graph(rplan)
    assert [(r["version"], r["architecture"]) for r in g["releases"]] == [
        ("4.15.2", "amd64"), ("4.15.9", "amd64"), ("4.15.10", "amd64"), ("4.15.2", "arm64")]
    assert g["edges"] == [["4.15.2", "4.15.9", "amd64"], ["4.15.2", "4.15.10", "amd64"],
                          ["4.15.9", "4.15.10", "amd64"]]
    assert g["leftOut"] == [["4.15.1", "4.15.2", "amd64"], ["4.15.1", "4.15.10", "amd64"],
                            ["4.15.0", "4.15.2", "arm64"]]
    assert served.text_lines(g) == [
        "update graph over the mirrored releases (as an update service serves it): 4 releases, 3 updates among them",
        "  4.15.2 (amd64) -> 4.15.9, 4.15.10",
        "  4.15.9 (amd64) -> 4.15.10",
        "  4.15.10 (amd64): no update to a mirrored release",
        "  4.15.2 (arm64): no update to a mirrored release",
        "  not offered: 4.15.1 -> 4.15.2 (amd64): 4.15.1 is not mirrored",
        "  not offered: 4.15.1 -> 4.15.10 (amd64): 4.15.1 is not mirrored",
        "  not offered: 4.15.0 -> 4.15.2 (arm64): 4.15.0 is not mirrored"]
