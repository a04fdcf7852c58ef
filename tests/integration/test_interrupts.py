"""Interrupted runs: signals, SIGKILL at random moments, two runs on one output directory, atomic files.

A run is stopped while it really copies (a proxy slows the source down); what the mirror holds is then read
directly from the registry, and a watcher checks, while runs come and go, that no tag ever names an image whose
children or blobs are missing.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.devregistry import LocalRegistry
from devtools.samples import PushedImage
from support.cli import write_manifest
from support.fault_proxy import (FaultProxy, Rule, image_problems, manifest_digest, oracle_client, repositories,
                                 tags_of)

pytestmark = pytest.mark.integration

FAST = {"MIRRORSYNC_RETRY_WAIT": "0.01"}


class Background:
    """``mirrorsync ARGS`` as a child process whose stderr is read line by line while it runs."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
        full_env.update({**FAST, **(env or {})})
        self.proc = subprocess.Popen([sys.executable, "-m", "mirrorsync", *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = 60) -> str:
        """The first stderr line matching ``pattern``; fails the test if none comes in time."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if re.search(pattern, line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    pytest.fail(f"no stderr line matching {pattern!r}; got:\n" + "\n".join(self.lines))
                self._changed.wait(min(left, 0.1))

    def finish(self, timeout: float = 60) -> int:
        """Wait for the process to exit (killing it if it does not in time) and for its stderr to end."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"mirrorsync did not exit within {timeout} s; stderr:\n" + "\n".join(self.lines))
        self._reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.read()
        self.proc.stdout.close()
        return code

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)



def manifest_for(path: Path, *, mirror: str, hosts: list[str], images: list[dict[str, Any]],
                 **options: Any) -> Path:
    return write_manifest(path, mirrors=[mirror], images=images, registries={h: {"tlsVerify": False} for h in hosts},
                          options={"retries": 2, **options})


def crs_sources(out: Path) -> set[str]:
    path = out / "cluster-resources" / "imagedigestmirrorset.yaml"
    if not path.exists():
        return set()
    return {e["source"] for obj in yaml.safe_load_all(path.read_text()) for e in obj["spec"]["imageDigestMirrors"]}


def assert_outputs_whole(out: Path) -> None:
    """Whatever is in the output directory parses: no file there was ever half written."""
    if (out / "report.json").exists():
        assert json.loads((out / "report.json").read_text())["kind"] == "SyncReport"
    for path in [*out.glob("*.yaml"), *out.glob("cluster-resources/*")]:
        list(yaml.safe_load_all(path.read_text()))
    assert [p.name for p in out.rglob("*") if p.name.endswith(".tmp")] == [], "temporary files were left"


# --- SIGTERM / SIGINT ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_new_work_and_the_report_says_what_is_done(signum, tmp_path, proxies, registry,
                                                                 make_registry, seed, unique_repo):
    mirror_registry = make_registry("sig-mirror")
    images = [seed(registry, unique_repo(f"sig{i}"), "v1", kind="oci", arches=("amd64",), seed=70 + i)
              for i in range(6)]
    source = proxies(registry, Rule("delay", kinds={"blob-get"}, seconds=0.25))
    manifest = manifest_for(tmp_path / "m.yaml", mirror=f"{mirror_registry.host}/sig",
                            hosts=[source.host, mirror_registry.host], concurrency=1,
                            images=[{"source": f"{source.host}/{i.repository}:v1"} for i in images])
    out = tmp_path / "out"
    run = Background("run", str(manifest), "--output-dir", str(out))
    run.wait_for_line(r"^\[1/6\] copied")
    sent = time.monotonic()
    run.proc.send_signal(signum)
    code = run.finish()
    stopped_after = time.monotonic() - sent

    assert code == 1, run.stderr
    assert f"received {signal.Signals(signum).name}" in run.stderr
    assert stopped_after < 10, "the image in flight should finish in about a second"
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "Interrupted"
    records = {r["source"]: r for r in report["images"]}
    copied = [i for i in images if records[f"{source.host}/{i.repository}"]["status"] == "copied"]
    skipped = [i for i in images if records[f"{source.host}/{i.repository}"]["status"] == "skipped"]
    assert len(copied) + len(skipped) == len(images) and 1 <= len(copied) < len(images), report["images"]
    assert all(records[f"{source.host}/{i.repository}"]["error"] == "interrupted before it started" for i in skipped)
    with oracle_client(mirror_registry) as client:
        for img in copied:
            assert manifest_digest(client, f"sig/{img.repository}", "v1") == img.digest
            assert image_problems(client, f"sig/{img.repository}", "v1") == []
        for img in skipped:
            assert tags_of(client, f"sig/{img.repository}") == []
    assert crs_sources(out) == {f"{source.host}/{i.repository}" for i in copied}
    assert_outputs_whole(out)


def signal_twice_while_stuck(proc: Background, source: FaultProxy, stuck: PushedImage, signum: int,
                             announced: str) -> tuple[int, float]:
    """Once ``stuck``'s blob transfer has begun, signal; when ``announced`` is printed, signal again. Returns the
    exit code and the seconds from the second signal to the exit."""
    deadline = time.monotonic() + 10
    while not source.count(kind="blob-get", repo=stuck.repository) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.proc.send_signal(signum)
    proc.wait_for_line(announced)
    time.sleep(0.5)
    sent = time.monotonic()
    proc.proc.send_signal(signum)
    code = proc.finish(timeout=20)
    return code, time.monotonic() - sent


def interrupted_statuses(report_path: Path) -> dict[str, tuple[str, str | None]]:
    """An interrupted run's report: (status, error) by the last path component of each source."""
    report = json.loads(report_path.read_text())
    assert report["status"] == "Interrupted"
    return {r["source"].rsplit("/", 1)[-1]: (r["status"], r["error"]) for r in report["images"]}


def test_a_second_signal_abandons_transfers_in_flight(tmp_path, proxies, registry, make_registry, seed,
                                                      unique_repo):
    mirror_registry = make_registry("sig2-mirror")
    quick = seed(registry, unique_repo("quick"), "v1", kind="oci", arches=("amd64",), seed=80)
    stuck = seed(registry, unique_repo("stuck"), "v1", kind="oci", arches=("amd64",), seed=81)
    later = seed(registry, unique_repo("later"), "v1", kind="oci", arches=("amd64",), seed=82)
    # the stuck image's blobs take 25 s each: far longer than anyone waits after a second Ctrl-C
    source = proxies(registry, Rule("delay", kinds={"blob-get"}, repo=stuck.repository, seconds=25))
    manifest = manifest_for(tmp_path / "m.yaml", mirror=f"{mirror_registry.host}/sig2",
                            hosts=[source.host, mirror_registry.host], concurrency=1, timeout=60,
                            images=[{"source": f"{source.host}/{i.repository}:v1"} for i in (quick, stuck, later)])
    out = tmp_path / "out"
    run = Background("run", str(manifest), "--output-dir", str(out))
    run.wait_for_line(r"^\[1/3\] copied")
    code, seconds = signal_twice_while_stuck(run, source, stuck, signal.SIGINT, "received SIGINT")

    assert seconds < 8, "a second signal must not wait for the transfer in flight"
    assert code != 0
    statuses = interrupted_statuses(out / "report.json")
    assert statuses[quick.repository.rsplit("/", 1)[-1]][0] == "copied"
    stuck_status, stuck_error = statuses[stuck.repository.rsplit("/", 1)[-1]]
    assert stuck_status == "failed" and "abandoned" in stuck_error
    assert statuses[later.repository.rsplit("/", 1)[-1]][0] == "skipped"
    with oracle_client(mirror_registry) as client:
        assert tags_of(client, f"sig2/{stuck.repository}") == []
    assert crs_sources(out) == {f"{source.host}/{quick.repository}"}
    assert_outputs_whole(out)


# --- SIGKILL ---------------------------------------------------------------------------------------------------------


class TagWatcher:
    """Polls every tag on a registry and records any that names an incomplete image."""

    def __init__(self, registry: LocalRegistry) -> None:
        self.registry = registry
        self.violations: list[str] = []
        self.checked = 0
        self.tags_seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tag-watcher", daemon=True)

    def __enter__(self) -> TagWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def sweep(self) -> None:
        """Check every tag once, now."""
        with oracle_client(self.registry) as client:
            for repo in repositories(client):
                for tag in tags_of(client, repo):
                    self.tags_seen.add(f"{repo}:{tag}")
                    problems = image_problems(client, repo, tag)
                    for _ in range(5):
                        # docker-registry lists a tag once its directory exists, a moment before it writes the
                        # link in it: the tag's own manifest answers 404 in between. A tag that still does so
                        # after this is a violation; any other problem (a child or blob missing) counts at once.
                        if problems != [f"{repo}@{tag}: manifest answers HTTP 404"]:
                            break
                        time.sleep(0.05)
                        problems = image_problems(client, repo, tag)
                    self.violations += problems
                    self.checked += 1

    def _run(self) -> None:
        deadline = time.monotonic() + 300  # bounded, whatever happens to the test
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.sweep()
            self._stop.wait(0.02)


def test_a_second_signal_abandons_an_export_in_flight(tmp_path, proxies, registry, seed, unique_repo):
    quick = seed(registry, unique_repo("xquick"), "v1", kind="oci", arches=("amd64",), seed=83)
    stuck = seed(registry, unique_repo("xstuck"), "v1", kind="oci", arches=("amd64",), seed=84)
    source = proxies(registry, Rule("delay", kinds={"blob-get"}, repo=stuck.repository, seconds=25))
    manifest = manifest_for(tmp_path / "m.yaml", mirror="127.0.0.1:1/unused", hosts=[source.host], concurrency=1,
                            timeout=60, images=[{"source": f"{source.host}/{i.repository}:v1"} for i in (quick, stuck)])
    to = tmp_path / "export"
    export = Background("export", str(manifest), "--to", str(to))
    export.wait_for_line(r"^\[1/2\] copied")
    code, seconds = signal_twice_while_stuck(
        export, source, stuck, signal.SIGTERM,
        "received SIGTERM: finishing images in flight, starting no new ones \\(again to abandon")

    assert seconds < 8, "a second signal must not wait for the transfer in flight"
    assert code == 1
    statuses = interrupted_statuses(to / "report.json")
    assert statuses[quick.repository.rsplit("/", 1)[-1]][0] == "copied"
    stuck_status, stuck_error = statuses[stuck.repository.rsplit("/", 1)[-1]]
    assert stuck_status == "failed" and "abandoned" in stuck_error
    index = json.loads((to / "index.json").read_text())
    names = {m["annotations"].get("org.opencontainers.image.ref.name") for m in index["manifests"]}
    assert not any(stuck.repository in (n or "") for n in names), names


def test_sigkill_at_random_moments_then_a_rerun_finishes_and_no_tag_ever_names_an_incomplete_image(
        tmp_path, proxies, registry, make_registry, seed, unique_repo):
    mirror_registry = make_registry("kill-mirror")
    kinds = ["oci-index", "docker-list", "oci", "docker", "oci-index"]
    images: list[PushedImage] = [seed(registry, unique_repo(f"kill{i}"), "v1", kind=kind, layers=2,
                                      layer_size=100_000, seed=90 + i) for i, kind in enumerate(kinds)]
    source = proxies(registry, Rule("delay", kinds={"blob-get", "manifest-get"}, seconds=0.08))
    mirror = proxies(mirror_registry)
    manifest = manifest_for(tmp_path / "m.yaml", mirror=f"{mirror.host}/kill", hosts=[source.host, mirror.host],
                            concurrency=2, blobConcurrency=2,
                            images=[{"source": f"{source.host}/{i.repository}:v1"} for i in images])
    out = tmp_path / "out"
    rng = random.Random(20261126)
    kills = 0
    with TagWatcher(mirror_registry) as watcher:
        for _ in range(8):
            # A random moment of the copy itself (not of the interpreter starting): after some more requests,
            # plus a little, so transfers are in flight.
            # (the preflight's GET /v2/ of each host is not part of the copy)
            def copying() -> int:
                return sum(s.kind != "ping" for s in source.seen + mirror.seen)

            target = copying() + rng.randint(3, 30)
            run = Background("run", str(manifest), "--output-dir", str(out))
            deadline = time.monotonic() + 60
            while copying() < target and run.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.1))
            if run.proc.poll() is None:
                run.proc.kill()
                kills += 1
            run.finish()
            watcher.sweep()
            assert_outputs_whole(out)
        with oracle_client(mirror_registry) as client:
            before = {img.repository: {d for d in (*img.blobs, *img.manifests)
                                       if client.head(f"/v2/kill/{img.repository}/blobs/{d}").status_code == 200}
                      for img in images}
            tagged = {img.repository for img in images if tags_of(client, f"kill/{img.repository}")}
        mirror.reset_counters()
        final = Background("run", str(manifest), "--output-dir", str(out))
        code = final.finish()
        watcher.sweep()

    assert kills >= 6, f"only {kills} runs were still going when killed: the kills prove little"
    assert watcher.violations == [], watcher.violations[:5]
    assert watcher.checked > 0 and watcher.tags_seen
    assert any(before.values()), "the killed runs left nothing behind: the re-run proves little"
    assert code == 0, final.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "Succeeded"
    for img in images:
        record = next(r for r in report["images"] if r["source"].endswith(img.repository))
        assert record["status"] == ("up-to-date" if img.repository in tagged else "copied"), record
        with oracle_client(mirror_registry) as client:
            assert manifest_digest(client, f"kill/{img.repository}", "v1") == img.digest
            assert image_problems(client, f"kill/{img.repository}", "v1") == []
    # the last run sent only what was missing
    for s in mirror.seen:
        if s.kind == "upload-put":
            repo = s.repo.removeprefix("kill/")
            assert s.ref not in before[repo], f"{s.ref} was already in {s.repo} and was uploaded again"
    assert crs_sources(out) == {f"{source.host}/{i.repository}" for i in images}


def test_sigkill_leaves_the_records_finished_so_far_and_the_next_run_keeps_what_the_mirror_holds(
        tmp_path, proxies, registry, make_registry, seed, unique_repo):
    from mirrorsync.sync.record_journal import RECORDS_FILE, records_in

    mirror_registry = make_registry("journal-mirror")
    images = [seed(registry, unique_repo(f"journal{i}"), "v1", kind="oci", arches=("amd64",), seed=110 + i)
              for i in range(6)]
    source = proxies(registry)
    manifest = manifest_for(tmp_path / "m.yaml", mirror=f"{mirror_registry.host}/journal",
                            hosts=[source.host, mirror_registry.host], concurrency=1,
                            images=[{"source": f"{source.host}/{i.repository}:v1"} for i in images])
    out = tmp_path / "out"
    first = manifest_for(tmp_path / "first.yaml", mirror=f"{mirror_registry.host}/journal",
                         hosts=[source.host, mirror_registry.host],
                         images=[{"source": f"{source.host}/{images[0].repository}:v1"}])
    assert Background("run", str(first), "--output-dir", str(out)).finish() == 0
    earlier = (out / "report.json").read_bytes()
    assert not (out / RECORDS_FILE).exists()  # removed once report.json was written

    source.rules = [Rule("delay", kinds={"blob-get"}, seconds=0.3)]
    run = Background("run", str(manifest), "--output-dir", str(out))
    run.wait_for_line(r"^\[3/6\] ")
    run.proc.kill()
    run.finish()

    assert (out / "report.json").read_bytes() == earlier  # no report.json of the killed run, not even half
    assert_outputs_whole(out)
    done = list(records_in(out / RECORDS_FILE))
    by_source = {r.source: r for r in done}
    assert 3 <= len(done) < 6 and len(by_source) == len(done), [r.reference for r in done]
    assert by_source[f"{source.host}/{images[0].repository}"].status == "up-to-date"
    with oracle_client(mirror_registry) as client:
        for img in images:
            record = by_source.get(f"{source.host}/{img.repository}")
            if record is not None:  # what the file says is finished is on the mirror
                assert record.status in ("copied", "up-to-date") and record.digest == img.digest
                assert manifest_digest(client, f"journal/{img.repository}", "v1") == img.digest

    # the next run works; the image the source now refuses is kept, from report.json, where the mirror holds it
    source.rules = [Rule("503", repo=re.escape(images[0].repository))]
    final = Background("run", str(manifest), "--output-dir", str(out))
    assert final.finish() == 1, final.stderr
    report = json.loads((out / "report.json").read_text())
    records = {r["source"]: r for r in report["images"]}
    kept = records[f"{source.host}/{images[0].repository}"]
    assert kept["status"] == "failed" and kept["onMirror"] is True, kept
    assert all(records[f"{source.host}/{i.repository}"]["status"] in ("copied", "up-to-date") for i in images[1:])
    assert crs_sources(out) == {f"{source.host}/{i.repository}" for i in images}
    assert not (out / RECORDS_FILE).exists()


# --- two runs, one output directory -----------------------------------------------------------------------------


def test_a_second_run_on_the_same_output_directory_exits_with_a_clear_message(tmp_path, proxies, registry,
                                                                              mirror_registry, seed, unique_repo):
    images = [seed(registry, unique_repo(f"lock{i}"), "v1", kind="oci", arches=("amd64",), seed=100 + i)
              for i in range(2)]
    source = proxies(registry, Rule("delay", kinds={"blob-get"}, seconds=0.5))
    manifest = manifest_for(tmp_path / "m.yaml", mirror=f"{mirror_registry.host}/lock",
                            hosts=[source.host, mirror_registry.host], concurrency=1,
                            images=[{"source": f"{source.host}/{i.repository}:v1"} for i in images])
    out = tmp_path / "out"
    first = Background("run", str(manifest), "--output-dir", str(out))
    first.wait_for_line(r"^planned")  # it holds the lock from before planning on
    second = Background("run", str(manifest), "--output-dir", str(out))
    second_code = second.finish(timeout=30)
    first_running = first.proc.poll() is None
    first_code = first.finish()

    assert first_running, "the first run ended before the second started: the test proves nothing"
    assert second_code != 0
    assert re.search(rf"another mirrorsync run is using {re.escape(str(out))}", second.stderr), second.stderr
    assert len(second.lines) == 1, "one clear line, nothing else"
    assert first_code == 0, first.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "Succeeded" and len(report["images"]) == 2
    assert_outputs_whole(out)


# --- atomic files ---------------------------------------------------------------------------------------------------


def _no_space(src: Any, dst: Any) -> None:
    raise OSError(28, "No space left on device")


def _report() -> Any:
    from mirrorsync.sync.report import DestinationRecord, ImageRecord, Report

    dest = DestinationRecord("mirror.example:5000/ocp", "mirror.example:5000/ocp/team/app", "copied")
    image = ImageRecord("quay.io/team/app", "v1", "sha256:" + "a" * 64, "copied", destinations=[dest])
    return Report(manifest="m.yaml", engine="native", mirrors=["mirror.example:5000/ocp"], startedAt="now",
                  status="Succeeded", images=[image])


def _write_report(out: Path) -> None:
    _report().save(str(out / "report.json"))


def _write_crs(out: Path) -> None:
    from mirrorsync.pipeline.outputs import write_mirror_sets

    write_mirror_sets([_report()], out)


def _write_registries_conf(out: Path) -> None:
    from typer.testing import CliRunner

    from mirrorsync.cli.app import app

    crs = out.parent / "crs.yaml"
    crs.write_text("apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata: {name: x}\n"
                   "spec:\n  imageDigestMirrors:\n    - {source: quay.io/team, mirrors: [mirror.example/team]}\n")
    result = CliRunner().invoke(app, ["registries-conf", str(crs), "--output", str(out / "registries.conf")])
    assert result.exit_code == 2 and "cannot write" in result.stderr, result.stderr


def _write_metrics(out: Path) -> None:
    from mirrorsync.sync import metrics

    metrics.write_textfile(_report(), out / "mirrorsync.prom")


@pytest.mark.parametrize("writer, name", [(_write_report, "report.json"),
                                          (_write_crs, "cluster-resources/imagedigestmirrorset.yaml"),
                                          (_write_registries_conf, "registries.conf"),
                                          (_write_metrics, "mirrorsync.prom")])
def test_every_file_is_replaced_whole_or_not_at_all(writer, name, tmp_path, monkeypatch):
    """The last step of a write fails (a full disk, a kill): the old file must still be there, byte for byte."""
    out = tmp_path / "out"
    (out / name).parent.mkdir(parents=True)
    (out / name).write_text("the previous, complete file\n")
    monkeypatch.setattr(os, "replace", _no_space)
    try:
        writer(out)
    except Exception:  # noqa: BLE001 - how each writer reports the failure is not the point here
        pass
    assert (out / name).read_text() == "the previous, complete file\n"
    assert [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()] == [name], \
        "a temporary file was left behind"


def test_migrate_icsp_writes_whole_files_or_none(tmp_path, monkeypatch):
    from mirrorsync.openshift.migrate_icsp import migrate_icsp

    icsp = tmp_path / "icsp.yaml"
    icsp.write_text("apiVersion: operator.openshift.io/v1alpha1\nkind: ImageContentSourcePolicy\n"
                    "metadata: {name: x}\nspec:\n  repositoryDigestMirrors:\n"
                    "    - {source: quay.io/team, mirrors: [mirror.example/team]}\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    monkeypatch.setattr(os, "replace", _no_space)
    with pytest.raises(Exception):  # noqa: B017 - the kind of error is not the point
        migrate_icsp([str(icsp)], str(dest))
    assert list(dest.iterdir()) == []


# --- what an interrupted run prints: counts as in the report, JSON lines, -q ----------------------------------------


def _interrupted_run(tmp_path, proxies, registry, make_registry, seed, unique_repo, *args: str):
    """Six images through a slowed source, one of them missing (fails), SIGINT after the first copied one."""
    mirror_registry = make_registry("cnt-mirror")
    images = [seed(registry, unique_repo(f"cnt{i}"), "v1", kind="oci", arches=("amd64",), seed=90 + i)
              for i in range(5)]
    source = proxies(registry, Rule("delay", kinds={"blob-get"}, seconds=0.25))
    manifest = manifest_for(tmp_path / "m.yaml", mirror=f"{mirror_registry.host}/cnt",
                            hosts=[source.host, mirror_registry.host], concurrency=1,
                            images=[{"source": f"{source.host}/{unique_repo('absent')}:v1"}]
                            + [{"source": f"{source.host}/{i.repository}:v1"} for i in images])
    out = tmp_path / "out"  # fresh: nothing can be "kept from earlier runs"
    run = Background("run", str(manifest), "--output-dir", str(out), *args)
    run.wait_for_line(r'copied')
    run.proc.send_signal(signal.SIGINT)
    code = run.finish()
    report = json.loads((out / "report.json").read_text())
    return run, code, report


def _by_status(report: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for img in report["images"]:
        counts[img["status"]] = counts.get(img["status"], 0) + 1
    return counts


def test_the_summary_counts_what_the_report_says(tmp_path, proxies, registry, make_registry, seed, unique_repo):
    run, code, report = _interrupted_run(tmp_path, proxies, registry, make_registry, seed, unique_repo)
    assert code == 1, run.stderr
    counts = _by_status(report)
    assert counts.get("skipped") and counts.get("failed") == 1 and counts.get("copied"), report["images"]
    summary = run.wait_for_line(r"^Interrupted: ")
    assert (f"{counts['copied']} copied, 0 up to date, 1 failed, {counts['skipped']} skipped" in summary), summary
    assert "earlier runs" not in summary


def test_json_log_format_prints_only_json_lines(tmp_path, proxies, registry, make_registry, seed, unique_repo):
    run, code, report = _interrupted_run(tmp_path, proxies, registry, make_registry, seed, unique_repo,
                                         "--log-format", "json")
    assert code == 1, run.stderr
    events = [json.loads(line) for line in run.lines]  # every stderr line parses
    kinds = [e["event"] for e in events]
    assert {"planned", "image", "message", "summary"} <= set(kinds), kinds
    assert any("received SIGINT" in e.get("message", "") for e in events)
    summary = next(e for e in events if e["event"] == "summary")
    counts = _by_status(report)
    assert (summary["status"], summary["skipped"], summary["failed"], summary["copied"]) == (
        "Interrupted", counts["skipped"], 1, counts["copied"])
    assert summary["keptFromEarlierRuns"] == 0


def test_json_log_format_stdout_and_errors_are_json(tmp_path, registry, make_registry, seed, unique_repo):
    from support.cli import mirrorsync

    mirror_registry = make_registry("json-mirror")
    img = seed(registry, unique_repo("json"), "v1", kind="oci", arches=("amd64",), seed=99)
    manifest = manifest_for(tmp_path / "m.yaml", mirror=f"{mirror_registry.host}/j",
                            hosts=[registry.host, mirror_registry.host],
                            images=[{"source": f"{registry.host}/{img.repository}:v1"},
                                    {"source": f"{registry.host}/{unique_repo('gone')}:v1"}])
    done = mirrorsync("run", str(manifest), "--output-dir", str(tmp_path / "out"), "--log-format", "json", env=FAST)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines() + done.stderr.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["path"] for e in events if e["event"] == "written"], done.stdout  # the CR files, as JSON
    assert any(e["event"] == "image" and e["status"] == "failed" for e in events)
    # a fatal error: one JSON object, exit 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: 3\n")
    done = mirrorsync("run", str(bad), "--output-dir", str(tmp_path / "out2"), "--log-format", "json")
    assert done.returncode == 2 and done.stdout == ""
    [error] = [json.loads(line) for line in done.stderr.splitlines()]
    assert error["event"] == "error" and error["level"] == "error" and error["message"].startswith("error: ")
    assert error["exitCode"] == 2


def test_quiet_prints_only_failures_and_the_summary(tmp_path, registry, make_registry, seed, unique_repo):
    from support.cli import mirrorsync

    mirror_registry = make_registry("quiet-mirror")
    img = seed(registry, unique_repo("quiet"), "v1", kind="oci", arches=("amd64",), seed=98)
    gone = unique_repo("gone")
    manifest = manifest_for(tmp_path / "m.yaml", mirror=f"{mirror_registry.host}/q",
                            hosts=[registry.host, mirror_registry.host],
                            images=[{"source": f"{registry.host}/{img.repository}:v1"},
                                    {"source": f"{registry.host}/{gone}:v1"}])
    quiet = mirrorsync("run", str(manifest), "--output-dir", str(tmp_path / "quiet"), "-q", env=FAST)
    loud = mirrorsync("run", str(manifest), "--output-dir", str(tmp_path / "loud"), env=FAST)
    assert loud.returncode == quiet.returncode == 1
    assert "planned 2 image(s)" in loud.stderr
    assert any(line.startswith("[") and img.repository in line for line in loud.stderr.splitlines()), loud.stderr
    lines = quiet.stderr.splitlines()
    assert "planned" not in quiet.stderr
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == 1 and "failed" in progress[0] and gone in progress[0], quiet.stderr
    assert any(line.startswith("PartiallyFailed: 1 copied, 0 up to date, 1 failed;") for line in lines), quiet.stderr
    assert quiet.stdout == loud.stdout.replace(str(tmp_path / "loud"), str(tmp_path / "quiet"))


def test_a_signal_while_planning_copies_nothing_and_keeps_what_earlier_runs_mirrored(tmp_path, proxies, registry,
                                                                                    make_registry, seed, unique_repo):
    """Planning reads the sources (tag lists here, slowed down); a SIGTERM then stops the run before any copy: the
    tag lists not read yet are not read (a plan of thousands of repositories must end within the stop grace), their
    entries are skipped, not failed; exit 1, an Interrupted report, nothing new on the mirror, and the mirror sets
    of the earlier run kept."""
    mirror_registry = make_registry("plan-sig-mirror")
    earlier = seed(registry, unique_repo("plansig-kept"), "v1", kind="oci", arches=("amd64",), seed=90)
    later = [seed(registry, unique_repo(f"plansig{i}"), "1.0.0", kind="oci", arches=("amd64",), seed=91 + i)
             for i in range(8)]
    source = proxies(registry, Rule("delay", kinds={"tags"}, seconds=1.5))
    out = tmp_path / "out"
    first = manifest_for(tmp_path / "first.yaml", mirror=f"{mirror_registry.host}/ps",
                         hosts=[source.host, mirror_registry.host],
                         images=[{"source": f"{source.host}/{earlier.repository}:v1"}])
    assert Background("run", str(first), "--output-dir", str(out)).finish() == 0
    kept = crs_sources(out)
    assert kept == {f"{source.host}/{earlier.repository}"}

    second = manifest_for(tmp_path / "second.yaml", mirror=f"{mirror_registry.host}/ps",
                          hosts=[source.host, mirror_registry.host], concurrency=1,
                          images=[{"source": f"{source.host}/{earlier.repository}:v1"},
                                  *({"source": f"{source.host}/{i.repository}", "semver": ">=1"} for i in later)])
    run = Background("run", str(second), "--output-dir", str(out))
    deadline = time.monotonic() + 15
    while not source.count(kind="tags") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert source.count(kind="tags"), run.stderr
    run.proc.send_signal(signal.SIGTERM)
    code = run.finish(timeout=30)

    assert code == 1, run.stderr
    assert "received SIGTERM" in run.stderr
    assert "Traceback" not in run.stderr
    with oracle_client(mirror_registry) as client:
        for img in later:
            assert tags_of(client, f"ps/{img.repository}") == []
    assert crs_sources(out) == kept
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "Interrupted", report
    assert source.count(kind="tags") < len(later), "planning went on reading tag lists after the signal"
    unplanned = [r for r in report["images"] if r["error"] == "interrupted before it was planned"]
    assert unplanned and all(r["status"] == "skipped" for r in unplanned), report["images"]
    assert not [r for r in report["images"] if r["status"] == "failed"], report["images"]
    assert_outputs_whole(out)
