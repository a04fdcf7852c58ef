"""The flags the README promises override the manifest's ``options`` (issue 35): ``--timeout`` and ``--retries``
on a run against a source that accepts connections and never answers, where the manifest's own timeout would
hold the run for ten minutes (``--blob-concurrency``: tests/pipeline/test_run_options.py)."""

from __future__ import annotations

import json

import pytest

from support.cli import mirrorsync, registry_settings, write_manifest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("command", ["run", "export"])
def test_timeout_and_retries_flags_override_the_manifests_options(tmp_path, mirror_registry, silent_port, command):
    source = f"127.0.0.1:{silent_port}"
    path = write_manifest(tmp_path / "sync.yaml", mirrors=[mirror_registry.host],
                          registries={source: {"tlsVerify": False}, **{mirror_registry.host:
                                                                        registry_settings(mirror_registry)}},
                          images=[{"source": f"{source}/t/silent", "tags": ["1.0"]}],
                          options={"timeout": 600, "retries": 5})
    where = ["-o", str(tmp_path / "out")] if command == "run" else ["--to", str(tmp_path / "export")]
    # with the manifest's 600 s and 5 retries this would outlive the subprocess timeout many times over
    proc = mirrorsync(command, str(path), *where, "--timeout", "1", "--retries", "0", timeout=120)
    assert proc.returncode == 1, proc.stderr
    report = tmp_path / ("out" if command == "run" else "export") / "report.json"
    [image] = json.loads(report.read_text())["images"]
    assert image["status"] == "failed" and "timed out" in image["error"], image
