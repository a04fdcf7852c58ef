"""The Python API (``import mirrorsync``, README "Python API") against the real registry, used exactly as
documented: it gives what the command line gives for the same manifest."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.cli import mirrorsync as run_cli, registry_settings, write_manifest

import mirrorsync

pytestmark = pytest.mark.integration


def test_the_public_names_are_the_documented_ones():
    assert sorted(mirrorsync.__all__) == sorted([
        "run", "RunOptions", "load_manifest", "SyncManifest", "Report", "load_report", "render_crs",
        "MirrorSetFile", "load_mirror_sets", "MirrorSet", "render_registries_conf", "config_from_mirror_sets",
        "resolve", "Resolution", "PullSource", "MirrorsyncError", "InputError", "prune", "PruneResult"])
    for name in mirrorsync.__all__:
        assert getattr(mirrorsync, name) is not None
    with pytest.raises(AttributeError):
        mirrorsync.no_such_name  # noqa: B018


def test_importing_mirrorsync_loads_no_http_or_yaml_library():
    """The API loads on first use: ``mirrorsync --help`` and ``resolve`` start as fast as before."""
    code = "import sys, mirrorsync; print(sorted(m for m in ('httpx', 'yaml', 'tenacity') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "[]\n"


def test_run_render_and_resolve_as_the_command_line_does(registry, mirror_registry, seed, unique_repo, tmp_path):
    repo = unique_repo("app")
    image = seed(registry, repo, "1.0")
    settings = {r.host: registry_settings(r) for r in (registry, mirror_registry)}
    manifest_path = write_manifest(tmp_path / "manifest.yaml", mirrors=[f"{mirror_registry.host}/api"],
                                   registries=settings, images=[{"source": f"{registry.host}/{repo}", "tags": ["1.0"]}])

    report = mirrorsync.run(manifest_path, mirrorsync.RunOptions(concurrency=1))
    assert isinstance(report, mirrorsync.Report)
    assert report.status == "Succeeded"
    assert [(i.tag, i.digest) for i in report.images] == [("1.0", image.digest)]
    report.save(str(tmp_path / "report.json"))
    assert mirrorsync.load_report(str(tmp_path / "report.json")).to_dict() == report.to_dict()

    files = mirrorsync.render_crs([report])
    cli = run_cli("generate", str(tmp_path / "report.json"), "--output-dir", str(tmp_path / "cli"))
    assert cli.returncode == 0, cli.stderr
    crs_dir = tmp_path / "cli" / "cluster-resources"
    assert {f.filename: f.text for f in files} == {f.filename: (crs_dir / f.filename).read_text() for f in files}
    assert {f.filename for f in files} == {"imagedigestmirrorset.yaml", "imagetagmirrorset.yaml"}

    sets = mirrorsync.load_mirror_sets([crs_dir])
    assert all(isinstance(s, mirrorsync.MirrorSet) for s in sets)
    conf = run_cli("registries-conf", str(crs_dir))
    assert mirrorsync.render_registries_conf(sets) == conf.stdout

    ref = f"{registry.host}/{repo}@{image.digest}"
    resolution = mirrorsync.resolve(ref, mirrorsync.config_from_mirror_sets(sets))
    cli_resolution = run_cli("resolve", "--output", "json", ref, str(crs_dir))
    assert resolution.to_json() == json.loads(cli_resolution.stdout)
    assert [s.reference for s in resolution.sources] == [f"{mirror_registry.host}/api/{repo}@{image.digest}", ref]


def test_bad_input_raises_input_error_before_copying(tmp_path):
    path = tmp_path / "manifest.yaml"
    path.write_text("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: []\nimages: []\n")
    with pytest.raises(mirrorsync.InputError) as caught:
        mirrorsync.load_manifest(str(path))
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, mirrorsync.MirrorsyncError)
