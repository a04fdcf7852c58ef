"""The cluster-resources directory: what ``oc apply -f``, ``oc apply -k`` and GitOps tools read, checked with the
real kubectl (offline: ``kubectl kustomize`` and kubectl's own file reader), and the upgrade from the earlier
layout (mirror set files directly in the output directory)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mirrorsync.openshift import cluster_resources
from mirrorsync.openshift.crs import load_mirror_sets
from mirrorsync.openshift.mirrorsets import MirroredSource, build_mirror_sets
from mirrorsync.openshift.registries_conf import render_registries_conf
from support.kubectl import assert_applicable, kubectl, kubectl_file_objects, kustomize

SOURCES = [
    MirroredSource("quay.io/ocp/release", ("mirror.example:5000/ocp/release",), by_digest=True, by_tag=False),
    MirroredSource("quay.io/team/app", ("mirror.example:5000/team/app",), by_digest=True, by_tag=True),
    MirroredSource("registry.example/never", ("mirror.example:5000/never",), by_digest=True, by_tag=False,
                   policy="NeverContactSource"),
]


def write(out: Path, *, icsp: bool = False, sources=SOURCES) -> tuple[list[Path], list[str]]:
    notes: list[str] = []
    if icsp:  # an ICSP cannot express NeverContactSource
        sources = [s for s in sources if s.policy is None]
    written = cluster_resources.write(out, build_mirror_sets(sources, icsp=icsp), notify=notes.append)
    return written, notes


def test_the_directory_holds_the_mirror_sets_and_a_kustomization_listing_them(tmp_path):
    out = tmp_path / "out"
    written, notes = write(out, icsp=True)
    crs = out / "cluster-resources"
    assert [p.name for p in written] == ["imagedigestmirrorset.yaml", "imagetagmirrorset.yaml",
                                         "imagecontentsourcepolicy.yaml", "Kustomization"]
    assert all(p.parent == crs for p in written)
    assert notes == []
    assert assert_applicable(crs, tmp_path) == [("ImageContentSourcePolicy", "mirrorsync"),
                                                ("ImageDigestMirrorSet", "mirrorsync"),
                                                ("ImageTagMirrorSet", "mirrorsync")]
    write(out)
    assert assert_applicable(crs, tmp_path) == [("ImageDigestMirrorSet", "mirrorsync"),
                                                ("ImageTagMirrorSet", "mirrorsync")]
    assert "registry.example/never" in (crs / "imagedigestmirrorset.yaml").read_text()


def test_a_kustomization_yaml_would_be_applied_as_an_object_by_kubectl_f(tmp_path):
    """Why the file is named ``Kustomization``: kubectl -f skips it, but reads a kustomization.yaml as an object
    (and an API server has no kind Kustomization, so ``oc apply -f`` would fail)."""
    crs = tmp_path / "out" / "cluster-resources"
    write(tmp_path / "out")
    assert "Kustomization" not in {o["kind"] for o in kubectl_file_objects(crs, tmp_path)}
    (crs / "Kustomization").rename(crs / "kustomization.yaml")
    assert "Kustomization" in {o["kind"] for o in kubectl_file_objects(crs, tmp_path)}


def test_the_same_input_writes_the_same_bytes(tmp_path):
    write(tmp_path / "a")
    write(tmp_path / "b")
    write(tmp_path / "b")
    a, b = tmp_path / "a" / "cluster-resources", tmp_path / "b" / "cluster-resources"
    assert {p.name: p.read_bytes() for p in a.iterdir()} == {p.name: p.read_bytes() for p in b.iterdir()}


def test_dropping_icsp_removes_it_from_the_directory_and_the_kustomization(tmp_path):
    out = tmp_path / "out"
    write(out, icsp=True)
    write(out, icsp=False)
    crs = out / "cluster-resources"
    assert not (crs / "imagecontentsourcepolicy.yaml").exists()
    assert "ImageContentSourcePolicy" not in {k for k, _ in assert_applicable(crs, tmp_path)}


def test_nothing_mirrored_leaves_a_valid_empty_kustomization(tmp_path):
    out = tmp_path / "out"
    write(out)
    written, _ = write(out, sources=[])
    crs = out / "cluster-resources"
    assert [p.name for p in written] == ["Kustomization"]
    assert [p.name for p in crs.iterdir()] == ["Kustomization"]
    assert yaml.safe_load((crs / "Kustomization").read_text())["resources"] == []
    assert kustomize(crs, tmp_path) == []


@pytest.mark.parametrize("icsp_before", [False, True])
def test_files_of_the_earlier_layout_are_removed_once_the_new_ones_are_written(tmp_path, icsp_before):
    out = tmp_path / "out"
    out.mkdir()
    sources = [s for s in SOURCES if s.policy is None] if icsp_before else SOURCES
    for f in build_mirror_sets(sources, icsp=icsp_before):  # what the earlier layout wrote, byte for byte
        (out / f.filename).write_text(f.text)
    (out / "report.json").write_text('{"apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncReport"}')
    before = render_registries_conf(load_mirror_sets([out]), [], [])

    _, notes = write(out)

    assert sorted(p.name for p in out.iterdir()) == ["cluster-resources", "report.json"]
    assert len(notes) == (3 if icsp_before else 2)
    assert any("imagedigestmirrorset.yaml" in n and "earlier output layout" in n for n in notes)
    if icsp_before:
        assert any("imagecontentsourcepolicy.yaml" in n and "writes no such objects" in n for n in notes)
    assert_applicable(out / "cluster-resources", tmp_path)
    after = render_registries_conf(load_mirror_sets([out]), [], [])
    assert after == render_registries_conf(load_mirror_sets([out / "cluster-resources"]), [], [])
    if not icsp_before:
        assert after == before  # the same objects, read from either layout


def test_a_file_that_is_not_ours_in_the_directory_is_reported(tmp_path):
    out = tmp_path / "out"
    (out / "cluster-resources").mkdir(parents=True)
    (out / "cluster-resources" / "extra.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    (out / "cluster-resources" / "README.md").write_text("not read by kubectl -f\n")
    _, notes = write(out)
    assert len(notes) == 1 and "extra.yaml is not mirrorsync's" in notes[0]
    assert "extra.yaml" not in (out / "cluster-resources" / "Kustomization").read_text()


def test_readers_find_the_objects_in_an_output_directory_of_either_layout(tmp_path):
    new, old = tmp_path / "new", tmp_path / "old"
    write(new)
    old.mkdir()
    for f in build_mirror_sets(SOURCES):
        (old / f.filename).write_text(f.text)
    names = [(ms.kind, ms.name) for ms in load_mirror_sets([new])]
    assert names and names == [(ms.kind, ms.name) for ms in load_mirror_sets([old])]
    assert names == [(ms.kind, ms.name) for ms in load_mirror_sets([new / "cluster-resources"])]


def test_kubectl_runs_offline(tmp_path):
    proc = kubectl("version", "--client", home=tmp_path)
    assert proc.returncode == 0 and "Kustomize Version" in proc.stdout, proc.stderr
