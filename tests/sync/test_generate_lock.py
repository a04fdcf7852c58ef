"""`generate` writes the same files as a run into the same output directory, so it takes the same lock."""

from __future__ import annotations

from typer.testing import CliRunner

from mirrorsync.cli.app import app
from mirrorsync.openshift import cluster_resources
from mirrorsync.sync.report import DestinationRecord, ImageRecord, Report
from mirrorsync.pipeline.outputs import output_lock


def _report(path) -> None:
    r = Report(manifest="m.yaml", engine="native", mirrors=["mirror.example.com"], startedAt="2026-01-01T00:00:00Z")
    r.images = [ImageRecord(source="registry.example.com/a", tag="v1", digest="sha256:" + "a" * 64, status="copied",
                            destinations=[DestinationRecord("mirror.example.com", "mirror.example.com/a", "copied")])]
    r.save(str(path))


def test_generate_refuses_while_a_run_holds_the_output_directory(tmp_path):
    _report(tmp_path / "r.json")
    out = tmp_path / "out"
    with output_lock(out):
        held = CliRunner().invoke(app, ["generate", str(tmp_path / "r.json"), "-o", str(out)])
    assert held.exit_code != 0 and "another mirrorsync run is using" in held.output
    assert not cluster_resources.directory(out).exists()

    free = CliRunner().invoke(app, ["generate", str(tmp_path / "r.json"), "-o", str(out)])
    assert free.exit_code == 0, free.output
    assert "mirror.example.com/a" in (cluster_resources.directory(out) / "imagedigestmirrorset.yaml").read_text()
