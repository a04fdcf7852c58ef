"""A broken or closed stderr does not stop a sync (issue 12): progress output that fails is given up once,
every image is still copied, and the report, the mirror sets and the exit code are those of the sync.

A scheduled run's stderr is a pipe to a log collector that can go away (a sidecar restarted, ``| head`` that has
read enough); the copies must not die with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support.cli import write_manifest
from support.fault_proxy import manifest_digest, oracle_client

pytestmark = pytest.mark.integration


def _run_with_stderr(args: list[str], stderr_fd: int | None) -> subprocess.CompletedProcess:
    """``mirrorsync ARGS`` whose fd 2 is ``stderr_fd``, or closed when None."""
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
    if stderr_fd is None:
        return subprocess.run([sys.executable, "-m", "mirrorsync", *args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, text=True, env=env, timeout=300,
                              preexec_fn=lambda: os.close(2))
    return subprocess.run([sys.executable, "-m", "mirrorsync", *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=stderr_fd, text=True, env=env, timeout=300)


@pytest.mark.parametrize("stderr", ["reader-gone", "closed"])
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_sync_with_a_broken_stderr_copies_everything_and_exits_0(stderr, log_format, tmp_path, registry,
                                                                   make_registry, seed, unique_repo):
    mirror = make_registry("stderr-mirror")
    images = [seed(registry, unique_repo(f"e{i}"), "v1", kind="oci", arches=("amd64",), seed=500 + i)
              for i in range(6)]
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror.host}/e"],
                              images=[{"source": f"{registry.host}/{i.repository}:v1"} for i in images],
                              registries={registry.host: {"tlsVerify": False}, mirror.host: {"tlsVerify": False}},
                              options={"retries": 1, "concurrency": 3})
    out = tmp_path / "out"
    args = ["run", str(manifest), "--output-dir", str(out), "--log-format", log_format, "--verbose"]
    if stderr == "reader-gone":
        read_end, write_end = os.pipe()
        os.close(read_end)  # every write to stderr now fails with EPIPE
        try:
            proc = _run_with_stderr(args, write_end)
        finally:
            os.close(write_end)
    else:
        proc = _run_with_stderr(args, None)

    assert proc.returncode == 0
    crs = out / "cluster-resources"
    written = [str(crs / "imagedigestmirrorset.yaml"), str(crs / "imagetagmirrorset.yaml"), str(crs / "Kustomization")]
    if log_format == "json":  # the README's contract: every line is an object, a file written is event "written"
        lines = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [line["event"] for line in lines] == ["written"] * 3 and [line["path"] for line in lines] == written
    else:
        assert proc.stdout.splitlines() == written
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "Succeeded" and report["totals"]["copied"] == len(images)
    with oracle_client(mirror) as client:
        for img in images:
            assert manifest_digest(client, f"e/{img.repository}", "v1") == img.digest


def test_progress_that_fails_is_logged_once_and_given_up(caplog):
    """The same, for the progress writer itself: one warning, then no more writes."""
    from mirrorsync.sync.progress import Progress
    from mirrorsync.sync.report import ImageRecord
    from mirrorsync.sync.job_runner import Event

    class Gone:
        writes = 0

        def isatty(self) -> bool:
            return False

        def write(self, text: str) -> int:
            Gone.writes += 1
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            pass

    progress = Progress(stream=Gone())  # type: ignore[arg-type]
    progress(Event("planned", total=3))
    for i in range(3):
        progress(Event("done", record=ImageRecord(source="r.example.com/a", tag=f"v{i}", digest=None,
                                                  status="copied")))
    progress.finish()
    assert Gone.writes == 1
    assert [r.getMessage() for r in caplog.records if "progress output failed" in r.getMessage()] == [
        "progress output failed ([Errno 32] Broken pipe); the run goes on without it"]


def test_a_failing_progress_listener_costs_no_image(registry, mirror_registry, seed, unique_repo, tmp_path):
    """The runner's own guard: whatever a listener raises, every image is copied and reported."""
    from mirrorsync.sync.manifest import load
    from mirrorsync.pipeline.runner import Runner

    images = [seed(registry, unique_repo(f"l{i}"), "v1", kind="oci", arches=("amd64",), seed=520 + i)
              for i in range(4)]
    path = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/l"],
                          images=[{"source": f"{registry.host}/{i.repository}:v1"} for i in images],
                          registries={registry.host: {"tlsVerify": False}, mirror_registry.host: {"tlsVerify": False}},
                          options={"retries": 1, "concurrency": 2})

    def listener(event):
        raise ValueError("I/O operation on closed file")

    report = Runner(load(str(path)), on_event=listener).run()
    assert report.status == "Succeeded" and sorted(i.digest for i in report.images) == sorted(i.digest for i in images)
