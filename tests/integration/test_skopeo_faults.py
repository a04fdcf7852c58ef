"""``mirrorsync run --engine skopeo`` through fault-injecting proxies in front of the real docker-registry.

What reached the mirror is read directly from the registry (``fault_proxy``'s oracle), never through a proxy and
never with mirrorsync's own client. Images are small and the proxies seeded, so the runs stay quick.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devtools.devregistry import LocalRegistry
from devtools.samples import PushedImage
from mirrorsync.sync.skopeo import PRIVATE_PREFIX, private_dir
from support.cli import Run, mirrorsync, write_auth_file, write_manifest
from support.fault_proxy import Rule, image_problems, manifest_digest, oracle_client, tags_of

pytestmark = pytest.mark.integration

FAST = {"MIRRORSYNC_RETRY_WAIT": "0.01"}  # backoff from 10 ms instead of 0.5 s
MIXED = ("500", "502", "503", "429", "reset", "truncate")


def mixed_faults(total: float) -> list[Rule]:
    """Every request has ``total`` odds of one of the ``MIXED`` faults (each as likely as the others)."""
    each = 1 - (1 - total) ** (1 / len(MIXED))
    return [Rule(mode, fraction=each, retry_after="0") for mode in MIXED]



@pytest.fixture
def sync(tmp_path: Path) -> Callable[..., Run]:
    """``sync(mirror=..., hosts=[...], images=[...], retries=8, options={...})``: ``mirrorsync run --engine skopeo``."""
    counter = iter(range(1000))

    def go(*, mirror: str, images: list[dict[str, Any]], hosts: list[str], retries: int = 8,
           options: dict[str, Any] | None = None, args: tuple[str, ...] = ()) -> Run:
        n = next(counter)
        path = write_manifest(tmp_path / f"manifest-{n}.yaml", mirrors=[mirror], images=images,
                              registries={h: {"tlsVerify": False} for h in hosts},
                              options={"retries": retries, "engine": "skopeo", **(options or {})})
        out = tmp_path / f"out-{n}"
        proc = mirrorsync("run", str(path), "--output-dir", str(out), *args, env=FAST, timeout=300)
        return Run(proc.returncode, proc.stdout, proc.stderr, out)

    return go


def assert_mirrored(mirror: LocalRegistry, repo: str, tag: str, digest: str) -> None:
    with oracle_client(mirror) as client:
        assert manifest_digest(client, repo, tag) == digest, f"{repo}:{tag}"
        assert image_problems(client, repo, tag) == []


def assert_whole_or_untagged(mirror: LocalRegistry, repo: str, tag: str, digest: str) -> bool:
    """The mirror's ``repo:tag`` is absent or names exactly the whole image; True when it is there."""
    with oracle_client(mirror) as client:
        if tag not in tags_of(client, repo):
            return False
        assert manifest_digest(client, repo, tag) == digest, f"{repo}:{tag} names other content"
        assert image_problems(client, repo, tag) == [], f"{repo}:{tag} names incomplete content"
        return True


def one_line(text: str | None) -> bool:
    return bool(text) and "\n" not in text and "Traceback" not in text


def sources(host: str, images: list[PushedImage]) -> list[dict[str, Any]]:
    return [{"source": f"{host}/{img.repository}:{img.tag}"} for img in images]


def four_repositories(seed: Callable[..., PushedImage], registry: LocalRegistry, name: str) -> list[PushedImage]:
    """Seven small images in four repositories: indexes, manifest lists and single images, two tags of one."""
    repo = f"skf/{name}"
    return [seed(registry, f"{repo}/base", "v1", kind="oci-index", layer_size=20_000, seed=301),
            seed(registry, f"{repo}/base", "v2", kind="oci-index", layer_size=20_000, seed=302),
            seed(registry, f"{repo}/tools", "v1", kind="docker-list", layer_size=20_000, seed=303),
            seed(registry, f"{repo}/tools", "v2", kind="docker", layer_size=20_000, seed=304),
            seed(registry, f"{repo}/app", "v1", kind="oci", layer_size=20_000, seed=305),
            seed(registry, f"{repo}/app", "v2", kind="oci", layer_size=20_000, seed=306),
            seed(registry, f"{repo}/db", "v1", kind="oci-index", layer_size=20_000, seed=307)]


# --- many faults ------------------------------------------------------------------------------------------------


def test_at_ten_percent_faults_on_source_and_mirror_every_image_arrives_exact(sync, proxies, registry,
                                                                             mirror_registry, seed):
    images = four_repositories(seed, registry, "ten")
    source = proxies(registry, *mixed_faults(0.10), seed=11)
    mirror = proxies(mirror_registry, *mixed_faults(0.10), seed=12)
    run = sync(mirror=f"{mirror.host}/ten", hosts=[source.host, mirror.host], images=sources(source.host, images))

    failed = [f"{i['source']}:{i['tag']}: {i['error']}" for i in run.report["images"] if i["status"] != "copied"]
    assert run.returncode == 0, "\n".join(failed) or run.stderr
    injected = source.failures() + mirror.failures()
    assert injected >= 10, f"the proxies broke only {injected} requests: the test proves nothing"
    for img in images:
        assert_mirrored(mirror_registry, f"ten/{img.repository}", img.tag, img.digest)
    assert run.report["status"] == "Succeeded"
    assert run.report["totals"]["retries"] >= 1


def test_at_thirty_percent_faults_nothing_is_half_tagged_and_each_failure_says_why(sync, proxies, registry,
                                                                                   mirror_registry, seed):
    images = four_repositories(seed, registry, "thirty")
    source = proxies(registry, *mixed_faults(0.30), seed=21)
    mirror = proxies(mirror_registry, *mixed_faults(0.30), seed=22)
    run = sync(mirror=f"{mirror.host}/thirty", hosts=[source.host, mirror.host], retries=2,
               images=sources(source.host, images))

    records = {(r["source"], r["tag"]): r for r in run.report["images"]}
    failed, by_skopeo = [], []
    for img in images:
        record = records[(f"{source.host}/{img.repository}", img.tag)]
        tagged = assert_whole_or_untagged(mirror_registry, f"thirty/{img.repository}", img.tag, img.digest)
        if record["status"] == "failed":
            failed.append(img)
            assert not tagged or record["destinations"][0]["status"] == "failed"
            assert one_line(record["error"]), record
            if record["error"].startswith("skopeo"):  # (else mirrorsync's own reads gave up, as natively)
                # which kind of failure it was, in the report
                assert re.search(r" \((transient|permanent): [^()]+\)$", record["error"]), record["error"]
                by_skopeo.append(img)
            assert f"{img.repository}:{img.tag}" in run.stderr  # the per-image line on stderr names it
        else:
            assert record["status"] == "copied" and tagged
    assert by_skopeo, "no skopeo run failed: the fault rate is too low for this test to mean anything"
    assert run.returncode == 1


# --- how runs are counted ---------------------------------------------------------------------------------------


def test_runs_that_make_progress_do_not_use_up_the_retries(sync, proxies, registry, mirror_registry, seed,
                                                           unique_repo):
    img = seed(registry, unique_repo("steps"), "v1", kind="oci-index", arches=("amd64", "arm64", "ppc64le"),
               seed=311)
    # each child manifest, then the tag, is refused once: every skopeo run gets one step further, then fails
    refusals = [Rule("503", kinds={"manifest-put"}, ref=child, limit=1) for child in img.children.values()]
    mirror = proxies(mirror_registry, *refusals, Rule("503", kinds={"manifest-put"}, ref="^v1$", limit=1))
    run = sync(mirror=f"{mirror.host}/steps", hosts=[registry.host, mirror.host], retries=1,
               images=sources(registry.host, [img]))

    assert run.returncode == 0, run.stderr
    assert mirror.injected["503"] == 4
    assert_mirrored(mirror_registry, f"steps/{img.repository}", "v1", img.digest)
    # five skopeo runs with retries: 1 -- none of the four failed ones was without progress
    puts = [s.ref for s in mirror.seen if s.kind == "manifest-put"]
    assert puts.count("v1") == 2 and len(puts) == 1 + 2 + 3 + 4 + 4, puts
    assert run.image(img.repository)["retries"] == 4 == run.report["totals"]["retries"]


def test_runs_without_progress_end_it_and_the_error_says_so(sync, proxies, registry, mirror_registry, seed,
                                                            unique_repo):
    img = seed(registry, unique_repo("stuck"), "v1", kind="oci-index", seed=312)
    mirror = proxies(mirror_registry, Rule("502", kinds={"manifest-put"}, ref="^v1$"))
    run = sync(mirror=f"{mirror.host}/stuck", hosts=[registry.host, mirror.host], retries=2,
               images=sources(registry.host, [img]))

    assert run.returncode == 1
    record = run.image(img.repository)
    # the first run brought every blob and child manifest; the tag was refused then and twice more, as the native
    # engine would have tried that one request 1 + retries times
    assert record["error"].endswith("502 Bad Gateway (transient: 3 runs failed at this step since the mirror last "
                                    "gained part of the image, 3 runs in all)"), record["error"]
    assert mirror.count(kind="manifest-put", repo=f"stuck/{img.repository}", fault="502") == 3
    assert record["retries"] == 2
    with oracle_client(mirror_registry) as client:
        assert tags_of(client, f"stuck/{img.repository}") == []
        for child in img.children.values():  # what did arrive is whole
            assert image_problems(client, f"stuck/{img.repository}", child) == []


def test_a_permanent_failure_is_not_retried(sync, proxies, registry, mirror_registry, seed, unique_repo):
    img = seed(registry, unique_repo("gone"), "v1", kind="oci", arches=("amd64",), seed=313)
    source = proxies(registry, Rule("404", kinds={"blob-get"}))  # the source lost a blob
    run = sync(mirror=f"{mirror_registry.host}/gone", hosts=[source.host, mirror_registry.host],
               images=sources(source.host, [img]))

    assert run.returncode == 1
    record = run.image(img.repository)
    assert "404 (Not Found) (permanent: not retried)" in record["error"] and one_line(record["error"])
    assert record["retries"] == 0
    assert source.count(kind="blob-get", fault="404") >= 1
    assert [s.ref for s in source.seen if s.kind == "manifest-get"].count(img.digest) == 1  # one skopeo run
    with oracle_client(mirror_registry) as client:
        assert tags_of(client, f"gone/{img.repository}") == []


def test_a_corrupt_transfer_is_retried_but_a_source_that_keeps_lying_is_not(sync, proxies, registry,
                                                                            mirror_registry, seed, unique_repo):
    once = seed(registry, unique_repo("once"), "v1", kind="oci", arches=("amd64",), layer_size=30_000, seed=314)
    liar = seed(registry, unique_repo("liar"), "v1", kind="oci", arches=("amd64",), layer_size=30_000, seed=315)
    source = proxies(registry, Rule("corrupt", kinds={"blob-get"}, ref=once.blobs[-1], limit=1),
                     Rule("corrupt", kinds={"blob-get"}, ref=liar.blobs[-1]))
    run = sync(mirror=f"{mirror_registry.host}/bytes", hosts=[source.host, mirror_registry.host],
               images=sources(source.host, [once, liar]))

    assert run.returncode == 1
    assert run.image(once.repository)["status"] == "copied"
    assert_mirrored(mirror_registry, f"bytes/{once.repository}", "v1", once.digest)
    record = run.image(liar.repository)
    assert record["status"] == "failed"
    assert record["error"].endswith("(permanent: the source served content that does not match its digest again)")
    assert f"expected {liar.blobs[-1]}" in record["error"]
    assert source.count(kind="blob-get", fault="corrupt", repo=liar.repository) == 2  # two runs, not more
    with oracle_client(mirror_registry) as client:
        assert tags_of(client, f"bytes/{liar.repository}") == []


# --- credentials ------------------------------------------------------------------------------------------------


def files_holding(root: Path, secret: bytes) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and secret in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found


def test_no_credential_file_outlives_a_sigkilled_run(tmp_path, proxies, make_registry, registry, seed, unique_repo,
                                                     monkeypatch):
    password = "kill-me-n0t-S3CRET-pw"
    mirror = make_registry("mirror-killed", htpasswd=("killer", password))
    mirror.username, mirror.password = "killer", password
    img = seed(registry, unique_repo("killed"), "v1", kind="oci", arches=("amd64",), layer_size=300_000, seed=316)
    # blob reads crawl: the kill lands while skopeo is copying
    source = proxies(registry, Rule("delay", kinds={"blob-get"}, seconds=5))
    auth = write_auth_file(tmp_path / "auth.json", mirror)
    temp = tmp_path / "temp"
    temp.mkdir()
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror.host}/k"], images=sources(source.host, [img]),
                              registries={h: {"tlsVerify": False} for h in (source.host, mirror.host)},
                              options={"engine": "skopeo"})
    env = {**os.environ, "TMPDIR": str(temp), **FAST}
    env.pop("REGISTRY_AUTH_FILE", None)
    proc = subprocess.Popen([sys.executable, "-m", "mirrorsync", "run", str(manifest), "--output-dir",
                             str(tmp_path / "out"), "--authfile", str(auth)], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while source.count(kind="blob-get") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.count(kind="blob-get") >= 1, "skopeo never started copying"
        skopeo_pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _is_skopeo_of(p, proc.pid)]
        assert skopeo_pids, "no skopeo running under mirrorsync"
        assert list(temp.iterdir()), "mirrorsync does not use TMPDIR: the scans prove nothing"
        # while it runs, skopeo reads the credentials from memory, not from a file
        assert files_holding(temp, password.encode()) == []
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in skopeo_pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in skopeo_pids), "skopeo outlived mirrorsync"
    assert files_holding(temp, password.encode()) == [], "a credential was left behind"
    assert files_holding(temp, base64.b64encode(f"killer:{password}".encode())) == []

    # what the killed run could not clean up (its policy file, skopeo's temporary files), the next one does
    leftovers = list(temp.glob(f"{PRIVATE_PREFIX}*"))
    assert leftovers
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    mine, lock = private_dir()
    try:
        assert not any(p.exists() for p in leftovers)
        other, other_lock = private_dir()  # another engine starting meanwhile leaves a live one's alone
        os.close(other_lock)
        assert mine.is_dir() and other.is_dir()
    finally:
        os.close(lock)


def _is_skopeo_of(proc_dir: Path, ancestor: int) -> bool:
    """Whether ``/proc/PID`` is a skopeo process descending from ``ancestor``."""
    try:
        if (proc_dir / "comm").read_text().strip() != "skopeo":
            return False
        pid = int(proc_dir.name)
        while pid > 1:
            stat_line = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat_line[stat_line.rindex(")") + 2:].split()[1])
            if pid == ancestor:
                return True
    except (OSError, ValueError):
        return False
    return False
