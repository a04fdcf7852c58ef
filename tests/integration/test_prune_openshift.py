"""``prune`` with a manifest's ``platform`` and ``operators`` sections, against the real docker-registry.

Their images are selected by the update graph and by the catalog, not by the ``images`` list: prune must count
them as selected, delete only what a narrower section leaves, and take nothing away when the graph or the catalog
cannot be read (what the section selects is then unknown, as for a source whose tags cannot be listed).
"""

from __future__ import annotations

import json

import pytest
import yaml

from support.cli import mirrorsync, registry_settings
from support.fault_proxy import oracle_client
from devtools.openshift import GraphServer
from support.releases import build_channel
from test_catalogs import manifest_for, source  # noqa: F401 - the catalog source fixture
from test_prune import present

pytestmark = pytest.mark.integration

FAST = {"MIRRORSYNC_RETRY_WAIT": "0.01"}


def release_manifest(path, source_registry, mirror, update_service, min_version):
    doc = {"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncManifest", "mirrors": [f"{mirror.host}/p"],
           "registries": {r.host: registry_settings(r) for r in (source_registry, mirror)},
           "platform": {"channels": [{"name": "stable-4.15", "minVersion": min_version}],
                        "updateService": update_service}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def assert_nothing_to_prune(manifest, out) -> dict:
    """Prune with the manifest the run used deletes nothing; returns the run's report."""
    same = mirrorsync("prune", str(manifest), "--output-dir", str(out), "--output", "json", env=FAST)
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["removals"] == []
    return json.loads((out / "report.json").read_text())


def snapshot(mirror, out, report) -> tuple[dict[str, bool], bytes]:
    """What the mirror holds of the report's images (all of them), and the report's bytes."""
    held = on_mirror(oracle_client(mirror), report)
    assert all(held.values())
    return held, (out / "report.json").read_bytes()


def on_mirror(client, report) -> dict[str, bool]:
    """Each image record's mirror repository@digest -> whether the mirror holds it."""
    return {f"{d['repository']}@{img['digest']}": present(client, d["repository"].split("/", 1)[1], img["digest"])
            for img in report["images"] for d in img["destinations"]}


def test_releases_count_as_selected_and_an_unreadable_graph_takes_nothing_away(tmp_path, make_registry, pusher_for,
                                                                              closed_port):
    src, mirror = make_registry("prune-rel-source"), make_registry("prune-rel-mirror")
    channel = build_channel(pusher_for(src), "ocp")
    out = tmp_path / "out"
    with GraphServer({("stable-4.15", "amd64"): channel.graph()}) as graph:
        wide = release_manifest(tmp_path / "wide.yaml", src, mirror, graph.url, "4.15.2")
        run = mirrorsync("run", str(wide), "--output-dir", str(out), env=FAST)
        assert run.returncode == 0, run.stderr
        # the same manifest: every release image and component is still selected
        report = assert_nothing_to_prune(wide, out)
        assert [r["version"] for r in report["releases"]] == ["4.15.2", "4.15.3"]

    # the update service is down: which releases the channel selects is unknown, so nothing goes
    before, files = snapshot(mirror, out, report)
    down = release_manifest(tmp_path / "down.yaml", src, mirror, f"http://127.0.0.1:{closed_port}/graph", "4.15.3")
    proc = mirrorsync("prune", str(down), "--output-dir", str(out), "--apply", env=FAST)
    assert proc.returncode == 1, proc.stderr
    assert "kept every release image and component: channel stable-4.15 (amd64) could not be read" in proc.stderr
    assert json.loads((out / "prune-report.json").read_text())["keptWhole"]
    assert on_mirror(oracle_client(mirror), report) == before and (out / "report.json").read_bytes() == files

    # a narrower channel range: the release it leaves goes, with the components only it ran
    with GraphServer({("stable-4.15", "amd64"): channel.graph()}) as graph:
        narrow = release_manifest(tmp_path / "narrow.yaml", src, mirror, graph.url, "4.15.3")
        proc = mirrorsync("prune", str(narrow), "--output-dir", str(out), "--apply", env=FAST)
    assert proc.returncode == 0, proc.stderr
    mir = oracle_client(mirror)
    old, new = channel.by_version("4.15.2"), channel.by_version("4.15.3")
    assert not present(mir, "p/openshift/release-images", old.digest)
    assert present(mir, "p/openshift/release-images", new.digest)
    for name, img in new.components.items():
        assert present(mir, "p/openshift/release", img.digest), name
    only_old = {img.digest for img in old.components.values()} - {img.digest for img in new.components.values()}
    assert only_old and not any(present(mir, "p/openshift/release", d) for d in only_old)
    pruned = json.loads((out / "report.json").read_text())
    assert {i["digest"] for i in pruned["images"]} == {new.digest} | {i.digest for i in new.components.values()}


def test_catalog_images_count_as_selected_and_an_unreadable_catalog_takes_nothing_away(tmp_path, source,  # noqa: F811
                                                                                      make_registry):
    mirror = make_registry("prune-cat-mirror")
    manifest = manifest_for(tmp_path, source, mirror)
    out = tmp_path / "out"
    run = mirrorsync("run", str(manifest), "--output-dir", str(out), env=FAST)
    assert run.returncode == 0, run.stderr
    report = assert_nothing_to_prune(manifest, out)
    assert len(report["images"]) > 5  # the catalog image, its bundles and their related images
    before, files = snapshot(mirror, out, report)
    source.stop()  # the catalog cannot be read: what its filter keeps is unknown
    proc = mirrorsync("prune", str(manifest), "--output-dir", str(out), "--apply", env=FAST)
    assert proc.returncode == 1, proc.stderr
    assert f"kept every image of catalog {source.host}/olm/index:v4.15: " in proc.stderr
    assert on_mirror(oracle_client(mirror), report) == before and (out / "report.json").read_bytes() == files
