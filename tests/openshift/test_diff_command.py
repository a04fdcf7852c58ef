"""``mirrorsync diff OLD NEW``: output directories, CR files and a cluster export on stdin; the verdict and its exit
code; bad input as one line naming the file, exit 2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mirrorsync.cli.app import app

EXPORT = Path(__file__).parent.parent / "data" / "drain" / "cluster-export.yaml"

IDMS_A = """\
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  name: mirrorsync
spec:
  imageDigestMirrors:
  - source: quay.io/ocp/a
    mirrors:
    - mirror.example:5000/ocp/a
"""
ITMS_T = """\
apiVersion: config.openshift.io/v1
kind: ImageTagMirrorSet
metadata:
  name: mirrorsync
spec:
  imageTagMirrors:
  - source: quay.io/ocp/t
    mirrors:
    - mirror.example:5000/ocp/t
"""
IDMS_B = """\
  - source: quay.io/ocp/b
    mirrors:
    - mirror.example:5000/ocp/b
"""
ITMS_U = """\
  - source: quay.io/ocp/u
    mirrors:
    - mirror.example:5000/ocp/u
"""


def output_dir(root: Path, idms: str, itms: str) -> Path:
    """An output directory as `run` leaves it (the CR files in cluster-resources/, report.json beside them)."""
    crs = root / "cluster-resources"
    crs.mkdir(parents=True)
    (crs / "imagedigestmirrorset.yaml").write_text(idms)
    (crs / "imagetagmirrorset.yaml").write_text(itms)
    (crs / "Kustomization").write_text("resources: []\n")
    (root / "report.json").write_text("{}")
    return root


def diff(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, ["diff", *args], input=stdin)


def test_a_cluster_export_with_server_noise_matches_the_same_objects(tmp_path):
    out = output_dir(tmp_path / "out", IDMS_A, ITMS_T)
    result = diff("-", str(out), stdin=EXPORT.read_text())
    assert result.exit_code == 0, result.output
    assert result.output == "no change\n"


def test_adding_a_digest_entry_reloads(tmp_path):
    out = output_dir(tmp_path / "out", IDMS_A + IDMS_B, ITMS_T)
    result = diff("-", str(out), stdin=EXPORT.read_text())
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "+ ImageDigestMirrorSet mirrorsync: quay.io/ocp/b -> mirror.example:5000/ocp/b"
    assert '+  location = "quay.io/ocp/b"' in lines
    assert lines[-1] == "CRI-O reload, no drain"


def test_adding_a_tag_entry_drains_with_exit_3_and_json(tmp_path):
    old = output_dir(tmp_path / "old", IDMS_A, ITMS_T)
    new = output_dir(tmp_path / "new", IDMS_A, ITMS_T + ITMS_U)
    text = diff(str(old), str(new))
    assert text.exit_code == 3
    assert text.output.splitlines()[-1] == \
        "drain: quay.io/ocp/u: registry added with mirrors not all digest-only (tag-only)"
    result = diff(str(old), str(new), "--output", "json")
    assert result.exit_code == 3
    assert json.loads(result.output) == {
        "verdict": "drain",
        "reasons": ["quay.io/ocp/u: registry added with mirrors not all digest-only (tag-only)"],
        "added": [{"kind": "ImageTagMirrorSet", "name": "mirrorsync", "source": "quay.io/ocp/u",
                   "mirrors": ["mirror.example:5000/ocp/u"]}],
        "removed": [], "changed": []}


def test_removing_an_entry_drains_the_other_way_round(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text(IDMS_A + IDMS_B)
    new = tmp_path / "new.yaml"
    new.write_text(IDMS_A)
    result = diff(str(old), str(new), "--output", "json")
    assert result.exit_code == 3
    data = json.loads(result.output)
    assert data["verdict"] == "drain" and data["reasons"] == ["quay.io/ocp/b: registry removed"]
    assert [r["source"] for r in data["removed"]] == ["quay.io/ocp/b"]


def test_an_empty_directory_is_a_cluster_without_mirror_sets(tmp_path):
    (tmp_path / "empty").mkdir()
    new = output_dir(tmp_path / "new", IDMS_A, ITMS_T)
    result = diff(str(tmp_path / "empty"), str(new), "--output", "json")
    assert result.exit_code == 3  # the ITMS's registry is added tag-only
    assert json.loads(result.output)["reasons"] == [
        "quay.io/ocp/t: registry added with mirrors not all digest-only (tag-only)"]


@pytest.mark.parametrize("content, message", [
    ("kind: [\n", "invalid YAML"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "kind 'ConfigMap' is not one of"),
    ("just text\n", "not a Kubernetes object"),
])
def test_bad_file_is_one_line_naming_it(tmp_path, content, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    good = tmp_path / "good.yaml"
    good.write_text(IDMS_A)
    result = diff(str(bad), str(good))
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {bad}:") and message in line


def test_bad_stdin_names_it(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(IDMS_A)
    result = diff("-", str(good), stdin="items: [\n")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: <stdin>:") and "invalid YAML" in result.stderr
    both = diff("-", "-", stdin=IDMS_A)
    assert both.exit_code == 2 and "only one of OLD and NEW" in both.stderr


def test_a_directory_of_other_kinds_only_is_refused(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "catalogsource.yaml").write_text("apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\n"
                                              "metadata: {name: c}\n")
    good = tmp_path / "good.yaml"
    good.write_text(IDMS_A)
    result = diff(str(other), str(good))
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: {other}: no ImageDigestMirrorSet, ImageTagMirrorSet, "
                                     "ImageContentSourcePolicy here, only objects of other kinds")


def test_missing_path_is_refused(tmp_path):
    result = diff(str(tmp_path / "nope"), str(tmp_path / "nope2"))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'}: no such file or directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a directory whatever its mode")
def test_unreadable_directory_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        result = diff(str(locked), str(locked))
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {locked}: cannot read directory: Permission denied"


def test_unreadable_directory_is_one_input_error(tmp_path, monkeypatch):
    # The same refusal for root, who can read any mode: the directory listing itself fails.
    from mirrorsync.errors import InputError
    from mirrorsync.openshift.documents import iter_input_files

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", denied)
    with pytest.raises(InputError) as exc:
        list(iter_input_files([tmp_path]))
    assert str(exc.value) == f"{tmp_path}: cannot read directory: Permission denied"
