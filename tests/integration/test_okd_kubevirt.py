"""An okd channel, ``full: true`` and ``kubeVirtContainer: true`` end to end against the real registry: the okd
channel's graph comes from its own update service (a loopback one standing in for OKD's; ``platform.updateService``,
the ocp one, is a closed port and never asked), every release of the channel is mirrored, each with its KubeVirt
disk image tagged beside its components and in the IDMS; a second run copies nothing. ``plan`` shows the update graph
the mirrored releases make."""

from __future__ import annotations

import json

import pytest
import yaml

from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import RetryPolicy
from mirrorsync.registry.settings import RegistrySettings
from support.cli import mirrorsync, registry_settings
from devtools.openshift import GraphServer
from support.releases import assert_on_mirror, build_channel, idms_entries

pytestmark = pytest.mark.integration


def manifest_for(tmp_path, registry, mirror_registry, ns, platform):
    doc = {"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncManifest", "mirrors": [f"{mirror_registry.host}/{ns}"],
           "registries": {r.host: registry_settings(r) for r in (registry, mirror_registry)}, "platform": platform}
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return doc, manifest


def assert_disks_on_mirror(mirror_registry, ns, releases):
    """Each release, its components and its KubeVirt disk at their digests on the mirror, under oc-mirror v2's tags."""
    mirror = RegistryClient(mirror_registry.host, settings=RegistrySettings(tls_verify=False),
                            policy=RetryPolicy(attempts=1))
    try:
        assert_on_mirror(mirror, ns, releases)
        for rel in releases:
            disk = mirror.manifest_descriptor(f"{ns}/openshift/release", f"{rel.version}-x86_64-kubevirt-container")
            assert disk is not None and disk.digest == rel.kubevirt.digest, rel.version
    finally:
        mirror.close()


def test_an_okd_channel_in_full_with_its_kubevirt_disks(tmp_path, registry, mirror_registry, pusher_for,
                                                         unique_repo, closed_port):
    okd = build_channel(pusher_for(registry), unique_repo("okd"), kubevirt=True, release_repo="openshift/okd")
    ns = unique_repo("m")
    with GraphServer({("stable-4", "amd64"): okd.graph(channel="stable-4")}) as okd_graph:
        doc, manifest = manifest_for(tmp_path, registry, mirror_registry, ns,
                                     {"updateService": f"http://127.0.0.1:{closed_port}/graph",
                                      "channels": [{"name": "stable-4", "type": "okd", "full": True,
                                                    "updateService": okd_graph.url}],
                                      "kubeVirtContainer": True})
        out = tmp_path / "out"
        proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
        assert proc.returncode == 0, proc.stderr
        assert okd_graph.requests == [{"channel": "stable-4", "arch": "amd64", "accept": "application/json"}]
    report = json.loads((out / "report.json").read_text())

    # full: every release of the channel, without minVersion or maxVersion; each with its 5 components and its disk
    assert [(r["version"], r["digest"], r["channel"], r["components"], r["status"]) for r in report["releases"]] == [
        (r.version, r.digest, "stable-4", 6, "copied") for r in okd.releases]
    assert_disks_on_mirror(mirror_registry, ns, okd.releases)
    assert okd.releases[0].kubevirt.digest != okd.releases[3].kubevirt.digest  # two disks, each on the mirror
    assert {r["componentSources"][-1] for r in report["releases"]} == {f"{registry.host}/{okd.kubevirt_repo}"}

    # the IDMS sends the disk's repository to the mirror's release repository, by digest, as any component
    entries = idms_entries(out)
    mirror_ns = f"{mirror_registry.host}/{ns}"
    assert entries == {f"{registry.host}/{okd.release_repo}": [f"{mirror_ns}/openshift/release-images"],
                       f"{registry.host}/{okd.component_repos[0]}": [f"{mirror_ns}/openshift/release"],
                       f"{registry.host}/{okd.component_repos[1]}": [f"{mirror_ns}/openshift/release"],
                       f"{registry.host}/{okd.kubevirt_repo}": [f"{mirror_ns}/openshift/release"]}

    # verify finds the disks too; a second run (its graph from the same server) copies nothing
    checked = mirrorsync("verify", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with GraphServer({("stable-4", "amd64"): okd.graph(channel="stable-4")}) as again_graph:
        doc["platform"]["channels"][0]["updateService"] = again_graph.url
        manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
        proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    again = json.loads((out / "report.json").read_text())
    assert again["totals"]["copied"] == 0 and again["totals"]["bytesSent"] == 0
    assert [r["status"] for r in again["releases"]] == ["up-to-date"] * 4


def test_an_ocp_and_an_okd_channel_of_one_name_is_exit_2_at_the_entry_and_nothing_written(tmp_path, closed_port):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [127.0.0.1:1/m]\n"
                        "platform:\n  channels:\n  - name: stable-4\n  - name: stable-4\n    type: okd\n")
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 2, proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert f"{manifest}:7: platform.channels[1].name: channel 'stable-4' is already listed as type ocp" in line
    assert not out.exists()


def test_plan_shows_the_update_graph_the_mirrored_releases_make(tmp_path, registry, mirror_registry, pusher_for,
                                                                 unique_repo):
    # 4.15.0 .. 4.15.3, upgrades 0→1 1→2 2→3 0→2 1→3 in each release's metadata; 4.15.0 is left out of the range
    channel = build_channel(pusher_for(registry), unique_repo("rel"))
    with GraphServer({("stable-4.15", "amd64"): channel.graph()}) as server:
        _, manifest = manifest_for(tmp_path, registry, mirror_registry, unique_repo("m"),
                                   {"updateService": server.url,
                                    "channels": [{"name": "stable-4.15", "minVersion": "4.15.1", "full": True}]})
        text = mirrorsync("plan", str(manifest))
        as_json = mirrorsync("plan", str(manifest), "--output", "json")
    assert text.returncode == 0 and as_json.returncode == 0, text.stderr + as_json.stderr
    lines = text.stdout.splitlines()
    start = lines.index("update graph over the mirrored releases (as an update service serves it): 3 releases, "
                        "3 updates among them")
    graph_lines = lines[start + 1:]  # its indented lines; plan's other lines (credentials...) follow
    graph_lines = graph_lines[:next((i for i, line in enumerate(graph_lines) if not line.startswith("  ")),
                                    len(graph_lines))]
    assert graph_lines == ["  4.15.1 (amd64) -> 4.15.2, 4.15.3", "  4.15.2 (amd64) -> 4.15.3",
                           "  4.15.3 (amd64): no update to a mirrored release",
                           "  not offered: 4.15.0 -> 4.15.1 (amd64): 4.15.0 is not mirrored",
                           "  not offered: 4.15.0 -> 4.15.2 (amd64): 4.15.0 is not mirrored"]
    graph = json.loads(as_json.stdout)["updateGraph"]
    assert graph["releases"] == [{"version": v, "architecture": "amd64", "digest": channel.by_version(v).digest}
                                 for v in ("4.15.1", "4.15.2", "4.15.3")]
    assert graph["edges"] == [["4.15.1", "4.15.2", "amd64"], ["4.15.1", "4.15.3", "amd64"],
                              ["4.15.2", "4.15.3", "amd64"]]
    assert not (tmp_path / "out").exists()


def test_export_and_import_carry_the_okd_releases_and_their_kubevirt_disks(tmp_path, registry, mirror_registry,
                                                                            pusher_for, unique_repo):
    okd = build_channel(pusher_for(registry), unique_repo("okd"), kubevirt=True, release_repo="openshift/okd")
    ns = unique_repo("m")
    with GraphServer({("stable-4", "amd64"): okd.graph(channel="stable-4")}) as okd_graph:
        _, manifest = manifest_for(tmp_path, registry, mirror_registry, ns,
                                   {"channels": [{"name": "stable-4", "type": "okd", "minVersion": "4.15.2",
                                                  "full": True, "updateService": okd_graph.url}],
                                    "kubeVirtContainer": True})
        export_dir = tmp_path / "export"
        proc = mirrorsync("export", str(manifest), "--to", str(export_dir))
        assert proc.returncode == 0, proc.stderr
    # the disconnected side: no update service; the releases and their disks come from the layout
    out = tmp_path / "out"
    proc = mirrorsync("import", str(export_dir), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert [(r["version"], r["channel"], r["components"], r["status"]) for r in report["releases"]] == [
        ("4.15.2", "stable-4", 6, "copied"), ("4.15.3", "stable-4", 6, "copied")]
    assert_disks_on_mirror(mirror_registry, ns, [okd.by_version("4.15.2"), okd.by_version("4.15.3")])
    idms = (out / "cluster-resources" / "imagedigestmirrorset.yaml").read_text()
    assert f"{registry.host}/{okd.kubevirt_repo}" in idms
