"""``mirrorsync run`` through a fault-injecting proxy in front of the real docker-registry.

Every test checks what really arrived on the mirror by reading the registry directly (``fault_proxy``'s oracle),
never through the proxy and never with mirrorsync's own client.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mirrorsync.oci.content import Descriptor, sha256_digest
from devtools.devregistry import LocalRegistry
from mirrorsync.sync.manifest import RegistrySettings
from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import ANSWERED_FACTOR, RetryPolicy
from support.cli import Run, mirrorsync, write_manifest
from support.fault_proxy import (Rule, image_problems, manifest_digest, oracle_client, tags_of)
from support.token_server import TokenServer, TokenUser

pytestmark = pytest.mark.integration

# Retries back off from 10 ms instead of 0.5 s; Retry-After is still honoured in full.
FAST = {"MIRRORSYNC_RETRY_WAIT": "0.01"}
# Every kind of request a copy makes (the version check is left alone: its answer is only a probe).
COPY_KINDS = ("tags", "manifest-get", "manifest-head", "manifest-put", "blob-get", "blob-head", "upload-start",
              "upload-put", "upload-patch")



@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``repo_name("x")``: a repository name unique to this test that is the same in every session.

    The proxies decide faults from the seed and the request's repository and digest, so stable names (and the
    stable sample content they seed) give every run of a test the same faults, whichever tests ran before.
    """
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[-60:].strip("-")

    def make(suffix: str) -> str:
        return f"faults/{base}/{suffix}"

    return make


@pytest.fixture
def sync(tmp_path: Path) -> Callable[..., Run]:
    """``sync(mirrors=[...], hosts=[...], images=[...], retries=8, options={...}, args=(...))`` -> the ``Run``.

    Writes a manifest (``hosts`` are plain HTTP registries) and runs ``mirrorsync run`` with fast retries.
    """
    counter = iter(range(1000))

    def go(*, mirrors: list[str], images: list[dict[str, Any]], hosts: list[str], retries: int = 8,
           options: dict[str, Any] | None = None, args: tuple[str, ...] = (), env: dict[str, str] | None = None,
           timeout: float = 120) -> Run:
        n = next(counter)
        path = write_manifest(tmp_path / f"manifest-{n}.yaml", mirrors=mirrors, images=images,
                              registries={h: {"tlsVerify": False} for h in hosts},
                              options={"retries": retries, **(options or {})})
        out = tmp_path / f"out-{n}"
        proc = mirrorsync("run", str(path), "--output-dir", str(out), *args, env={**FAST, **(env or {})},
                          timeout=timeout)
        return Run(proc.returncode, proc.stdout, proc.stderr, out)

    return go


def idms_sources(run: Run) -> set[str]:
    path = run.crs_dir / "imagedigestmirrorset.yaml"
    if not path.exists():
        return set()
    return {e["source"] for obj in run.cr("imagedigestmirrorset.yaml") for e in obj["spec"]["imageDigestMirrors"]}


def assert_mirrored(mirror: LocalRegistry, repo: str, tag: str, digest: str) -> None:
    """The mirror's ``repo:tag`` is exactly ``digest``, with every child and blob present."""
    with oracle_client(mirror) as client:
        assert manifest_digest(client, repo, tag) == digest, f"{repo}:{tag}"
        assert image_problems(client, repo, tag) == []


def assert_untagged(mirror: LocalRegistry, repo: str) -> None:
    with oracle_client(mirror) as client:
        assert tags_of(client, repo) == [], f"{repo} must have no tag on the mirror"


def one_line(text: str | None) -> bool:
    return bool(text) and "\n" not in text and "Traceback" not in text


# --- absorbed by the retry budget --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["5xx", "429", "reset", "truncate", "stall", "corrupt"])
def test_faults_within_the_budget_are_absorbed(mode, sync, proxies, registry, mirror_registry, seed, repo_name):
    images = [seed(registry, repo_name("idx"), "v1", kind="oci-index", layer_size=40_000, seed=11),
              seed(registry, repo_name("dock"), "v1", kind="docker", layer_size=40_000, seed=12),
              seed(registry, repo_name("oci"), "v2", kind="oci", layer_size=40_000, seed=13)]
    kinds = ("blob-get", "manifest-get") if mode == "corrupt" else COPY_KINDS
    common: dict[str, Any] = {"kinds": kinds, "max_consecutive": 2, "retry_after": "0"}
    if mode == "5xx":
        rules = [Rule(status, fraction=0.05, **common) for status in ("500", "502", "503", "504")]
    elif mode == "stall":
        rules = [Rule(mode, fraction=0.15, limit=1, seconds=3, **common)]  # each one costs a whole timeout
    else:
        rules = [Rule(mode, fraction=0.15, **common)]
    modes = [r.mode for r in rules]
    source = proxies(registry, *rules, seed=1)
    mirror = proxies(mirror_registry, *rules, seed=2)
    # One blob transfer at a time keeps each request's sequence of fault decisions the same from run to run.
    # (2 s: a real answer on a busy machine must not time out, or the retry count is off)
    options: dict[str, Any] = {"blobConcurrency": 1, **({"timeout": 2} if mode == "stall" else {})}
    run = sync(mirrors=[f"{mirror.host}/ok"], hosts=[source.host, mirror.host], options=options,
               images=[{"source": f"{source.host}/{img.repository}:{img.tag}"} for img in images])

    assert run.returncode == 0, run.stderr
    injected = sum(source.injected[m] + mirror.injected[m] for m in modes)
    assert injected >= 2, f"the proxies injected only {injected} {mode} faults: the test proves nothing"
    for img in images:
        assert_mirrored(mirror_registry, f"ok/{img.repository}", img.tag, img.digest)
    report = run.report
    assert report["status"] == "Succeeded"
    # Every fault costs one retry (or resume) and the report counts them, in total and per image. The only
    # faults that can share a retry are a failed upload PUT and a failed source GET: the PUT streams the GET.
    put_faults = mirror.count(kind="upload-put", fault="any")
    assert injected - put_faults <= report["totals"]["retries"] <= injected, (report["totals"], source.injected,
                                                                             mirror.injected)
    assert sum(i["retries"] for i in report["images"]) == report["totals"]["retries"]
    assert idms_sources(run) == {f"{source.host}/{img.repository}" for img in images}


@pytest.mark.parametrize("mode", ["503", "429", "reset", "stall"])
def test_a_no_op_re_sync_absorbs_faults_on_its_manifest_heads(mode, sync, proxies, registry, mirror_registry, seed,
                                                              repo_name):
    # A no-op is all HEADs, on both sides, on the lean path: faults there are retried and counted like any other
    images = [seed(registry, repo_name(f"n{i}"), "v1", kind="oci", arches=("amd64",), seed=40 + i) for i in range(4)]

    def sources(host: str) -> list[dict[str, Any]]:
        return [{"source": f"{host}/{img.repository}:v1"} for img in images]

    first = sync(mirrors=[f"{mirror_registry.host}/noop"], hosts=[registry.host, mirror_registry.host],
                 images=sources(registry.host))
    assert first.returncode == 0, first.stderr
    stall = {"seconds": 3, "limit": 2} if mode == "stall" else {}
    rule = Rule(mode, kinds={"manifest-head"}, fraction=0.5, max_consecutive=2, retry_after="0", **stall)
    source, mirror = proxies(registry, rule, seed=3), proxies(mirror_registry, rule, seed=4)
    run = sync(mirrors=[f"{mirror.host}/noop"], hosts=[source.host, mirror.host], images=sources(source.host),
               options={"timeout": 2} if mode == "stall" else None)

    assert run.returncode == 0, run.stderr
    injected = source.injected[mode] + mirror.injected[mode]
    assert injected >= 2, f"the proxies injected only {injected} {mode} faults: the test proves nothing"
    assert [i["status"] for i in run.report["images"]] == ["up-to-date"] * len(images)
    assert run.report["totals"]["retries"] == injected
    assert {s.kind for s in source.seen + mirror.seen} <= {"ping", "manifest-head"}, "a no-op reads nothing else"


@pytest.mark.parametrize("status", ["500", "503"])
def test_skopeo_engine_runs_skopeo_again_after_a_registry_5xx(status, sync, proxies, registry, mirror_registry,
                                                               seed, repo_name):
    # skopeo 1.9.3's --retry-times does not cover an HTTP 5xx (seen for real: a 500 to "trying to reuse blob"
    # when eight skopeo processes push one base layer at once); the engine runs skopeo again for it.
    img = seed(registry, repo_name("img"), "v1", kind="oci", arches=("amd64",), seed=21)
    mirror = proxies(mirror_registry, Rule(status, kinds={"blob-head"}, limit=1))
    run = sync(mirrors=[f"{mirror.host}/sk"], hosts=[registry.host, mirror.host], options={"engine": "skopeo"},
               images=[{"source": f"{registry.host}/{img.repository}:v1"}])

    assert run.returncode == 0, run.stderr
    assert mirror.injected[status] == 1
    assert_mirrored(mirror_registry, f"sk/{img.repository}", "v1", img.digest)
    assert run.report["totals"]["retries"] >= 1
    assert run.report["images"][0]["retries"] >= 1


# --- resuming and restarting transfers --------------------------------------------------------------------------


def blob_sizes(registry: LocalRegistry, repo: str, digests: tuple[str, ...]) -> dict[str, int]:
    with oracle_client(registry) as client:
        return {d: int(client.head(f"/v2/{repo}/blobs/{d}").headers["Content-Length"]) for d in digests}


def test_dropped_download_resumes_with_range_and_the_upload_goes_on(sync, proxies, registry, mirror_registry, seed,
                                                                   repo_name):
    img = seed(registry, repo_name("resume"), "v1", kind="oci", arches=("amd64",), layers=1,
               layer_size=600_000, seed=21)
    sizes = blob_sizes(registry, img.repository, img.blobs)
    big = max(sizes, key=sizes.get)
    source = proxies(registry, Rule("truncate", kinds={"blob-get"}, ref=big, limit=1, cut=0.5))
    mirror = proxies(mirror_registry)
    run = sync(mirrors=[f"{mirror.host}/resume"], hosts=[source.host, mirror.host],
               images=[{"source": f"{source.host}/{img.repository}:v1"}])

    assert run.returncode == 0, run.stderr
    assert_mirrored(mirror_registry, f"resume/{img.repository}", "v1", img.digest)
    gets = [s for s in source.seen if s.kind == "blob-get" and s.ref == big]
    assert [g.fault for g in gets] == ["truncate", None]
    assert gets[1].range == f"bytes={sizes[big] // 2}-", "the second GET must ask for the rest only"
    # the upload in flight never saw the break: one upload session, one PUT
    assert mirror.count(kind="upload-put") == len(img.blobs)
    assert run.report["totals"]["retries"] == 1


def test_download_from_a_server_that_cannot_resume_still_completes(sync, proxies, registry, mirror_registry, seed,
                                                                  repo_name):
    img = seed(registry, repo_name("norange"), "v1", kind="oci", arches=("amd64",), layers=1,
               layer_size=300_000, seed=22)
    sizes = blob_sizes(registry, img.repository, img.blobs)
    big = max(sizes, key=sizes.get)
    source = proxies(registry, Rule("truncate", kinds={"blob-get"}, ref=big, limit=1),
                     Rule("ignore-range", kinds={"blob-get"}))
    run = sync(mirrors=[f"{mirror_registry.host}/norange"], hosts=[source.host, mirror_registry.host],
               images=[{"source": f"{source.host}/{img.repository}:v1"}])

    assert run.returncode == 0, run.stderr
    assert source.count(kind="blob-get", fault="ignore-range") == 1, "the resume must have been refused"
    assert_mirrored(mirror_registry, f"norange/{img.repository}", "v1", img.digest)


def upload_sessions(registry: LocalRegistry, repo: str) -> list[str]:
    """Upload sessions that still hold partial data for ``repo`` (docker-registry's filesystem layout).

    A cancelled session loses its ``data`` file; docker-registry 2.8 leaves a small hash state behind.
    """
    uploads = registry.root / "docker" / "registry" / "v2" / "repositories" / repo / "_uploads"
    return sorted(p.name for p in uploads.iterdir() if (p / "data").exists()) if uploads.is_dir() else []


@pytest.mark.parametrize("side", ["mirror", "source"])
def test_broken_uploads_restart_cleanly_and_leave_no_session(side, sync, proxies, registry, mirror_registry, seed,
                                                             repo_name):
    img = seed(registry, repo_name("upload"), "v1", kind="oci", arches=("amd64",), layers=2,
               layer_size=200_000, seed=23)
    if side == "mirror":  # the connection to the mirror drops halfway through the PUT body
        source = proxies(registry)
        mirror = proxies(mirror_registry, Rule("reset", kinds={"upload-put"}, limit=2))
    else:  # the source's bytes turn out wrong at the end of the blob: the PUT in flight is abandoned unfinished
        source = proxies(registry, Rule("corrupt", kinds={"blob-get"}, limit=2))
        mirror = proxies(mirror_registry)
    run = sync(mirrors=[f"{mirror.host}/up"], hosts=[source.host, mirror.host],
               images=[{"source": f"{source.host}/{img.repository}:v1"}])

    assert run.returncode == 0, run.stderr
    assert sum(source.injected.values()) + sum(mirror.injected.values()) == 2
    assert_mirrored(mirror_registry, f"up/{img.repository}", "v1", img.digest)
    if side == "mirror":
        # the session is kept: asked where it stands (GET on its URL), and the rest sent into it
        assert mirror.count(kind="upload-start") == len(img.blobs), "a broken PUT must keep its session"
        assert mirror.count(kind="upload-status") == 2
    else:
        assert mirror.count(kind="upload-start") == len(img.blobs) + 2, "each re-read must open a new session"
    if side == "mirror":
        # The abandoned sessions are cancelled. (docker-registry 2.8 refuses to cancel a session that already
        # took bytes, since its _state no longer matches; its purge removes those.)
        assert upload_sessions(mirror_registry, f"up/{img.repository}") == [], "abandoned upload sessions were left"


def test_a_failed_cross_repository_mount_is_retried(sync, proxies, registry, mirror_registry, seed, repo_name):
    # two images sharing their base layer: the second gets it by mount, and that mount's POST fails once
    images = [seed(registry, repo_name(f"mount{i}"), "v1", kind="oci", arches=("amd64",), seed=24)
              for i in range(2)]
    mirror = proxies(mirror_registry, Rule("503", kinds={"upload-start"}, ref="^sha256:", limit=1))
    run = sync(mirrors=[f"{mirror.host}/mnt"], hosts=[registry.host, mirror.host], options={"concurrency": 1},
               images=[{"source": f"{registry.host}/{img.repository}:v1"} for img in images])

    assert mirror.injected["503"] == 1, "no mount was attempted: the test proves nothing"
    assert run.returncode == 0, run.stderr
    for img in images:
        assert_mirrored(mirror_registry, f"mnt/{img.repository}", "v1", img.digest)


def test_a_registry_refusing_a_mount_from_the_repository_itself_is_asked_by_head(proxies, mirror_registry,
                                                                                  repo_name):
    a, b = repo_name("self-a"), repo_name("self-b")
    shared_data, new_data = b"shared layer" * 1000, b"new layer" * 1000
    shared = Descriptor("application/octet-stream", sha256_digest(shared_data), len(shared_data))
    new = Descriptor("application/octet-stream", sha256_digest(new_data), len(new_data))
    # the spec says a mount that cannot be done answers 202; this registry says 404 to the self-mount of `new`
    proxy = proxies(mirror_registry, Rule("404", kinds={"upload-start"}, ref=re.escape(new.digest)))
    client = RegistryClient(proxy.host, settings=RegistrySettings(tls_verify=False),
                            policy=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01))
    try:
        client.write_blob(a, shared, iter([shared_data]))
        assert client.mount_blob(b, shared.digest, a) is True  # mounts work here: reuse is asked by mounting
        assert client.try_reusing_blob(b, new.digest).present is False
        client.write_blob(b, new, iter([new_data]))
        assert client.try_reusing_blob(b, new.digest).present is True
    finally:
        client.close()
    assert proxy.injected["404"] == 1
    assert [s.kind for s in proxy.seen if s.repo == b] == [
        "upload-start",  # the mount from a
        "upload-start",  # the self-mount of `new`, refused
        "blob-head",  # asked again, by HEAD
        "upload-start", "upload-put",  # the upload, in a session of its own
        "blob-head",  # and from then on by HEAD
    ]


# --- how retries are spent --------------------------------------------------------------------------------------


def test_429_waits_as_long_as_retry_after_says(sync, proxies, registry, mirror_registry, seed, repo_name):
    img = seed(registry, repo_name("429"), "v1", kind="oci", arches=("amd64",), seed=25)
    source = proxies(registry, Rule("429", kinds={"manifest-get"}, retry_after="1", limit=2))
    run = sync(mirrors=[f"{mirror_registry.host}/rl"], hosts=[source.host, mirror_registry.host],
               images=[{"source": f"{source.host}/{img.repository}:v1"}])

    assert run.returncode == 0, run.stderr
    gets = [s for s in source.seen if s.kind == "manifest-get"]
    assert [g.fault for g in gets] == ["429", "429", None]
    # MIRRORSYNC_RETRY_WAIT makes the backoff 10 ms; only Retry-After can explain a whole second
    assert gets[1].at - gets[0].at >= 0.95 and gets[2].at - gets[1].at >= 0.95
    assert run.report["totals"]["retries"] == 2 == run.image(img.repository)["retries"]
    assert_mirrored(mirror_registry, f"rl/{img.repository}", "v1", img.digest)


@pytest.mark.parametrize("kind", ["manifest-get", "blob-get"])
@pytest.mark.parametrize("retries", [0, 3])
def test_a_request_a_live_host_keeps_refusing_is_bounded_then_the_image_fails(retries, kind, sync, proxies, registry,
                                                                              mirror_registry, seed, repo_name):
    """The host answers its other requests, so its 503s to one request spend no retries, up to ANSWERED_FACTOR
    times the retries (retries 0: never retried)."""
    bad = seed(registry, repo_name("bad"), "v1", kind="oci", arches=("amd64",), seed=26)
    good = seed(registry, repo_name("good"), "v1", kind="oci", arches=("amd64",), seed=27)
    source = proxies(registry, Rule("503", kinds={kind}, repo=bad.repository))
    run = sync(mirrors=[f"{mirror_registry.host}/n{retries}-{kind}"], hosts=[source.host, mirror_registry.host],
               retries=retries, images=[{"source": f"{source.host}/{i.repository}:v1"} for i in (bad, good)])

    assert run.returncode == 1, run.stderr
    asked: dict[str, int] = {}
    for s in source.seen:
        if s.kind == kind and s.repo == bad.repository:
            asked[s.ref] = asked.get(s.ref, 0) + 1
    # every request (the manifest, or each blob transfer) was tried exactly 1 + ANSWERED_FACTOR * retries times
    assert asked and set(asked.values()) == {1 + ANSWERED_FACTOR * retries}, asked
    record = run.image(bad.repository)
    assert record["status"] == "failed" and record["retries"] == ANSWERED_FACTOR * retries * len(asked)
    assert "HTTP 503" in record["error"] and one_line(record["error"])
    assert run.image(good.repository)["status"] == "copied"
    assert run.report["status"] == "PartiallyFailed"


@pytest.mark.parametrize("answer", ["503", "reset"])
def test_a_host_that_answers_nothing_else_spends_the_retries_and_fails_fast(answer, sync, proxies, registry,
                                                                            mirror_registry, seed, repo_name):
    """A load balancer answering 503 to everything (no backend), or a host resetting every connection: nothing
    succeeds, so each request is tried exactly 1 + retries times, as for a dead host."""
    img = seed(registry, repo_name("down"), "v1", kind="oci", arches=("amd64",), seed=28)
    source = proxies(registry, Rule(answer, kinds=set(COPY_KINDS)))
    run = sync(mirrors=[f"{mirror_registry.host}/down-{answer}"], hosts=[source.host, mirror_registry.host],
               retries=3, images=[{"source": f"{source.host}/{img.repository}:v1"}])

    assert run.returncode == 1, run.stderr
    asked: dict[tuple[str, str], int] = {}
    for s in source.seen:
        if s.kind in COPY_KINDS:
            asked[(s.kind, s.ref)] = asked.get((s.kind, s.ref), 0) + 1
    assert asked and set(asked.values()) == {4}, asked
    assert run.image(img.repository)["status"] == "failed"


# --- past the budget ----------------------------------------------------------------------------------------------


def test_past_the_budget_only_the_broken_images_fail_and_nothing_is_half_tagged(sync, proxies, registry,
                                                                                mirror_registry, seed, repo_name):
    blobs_down = seed(registry, repo_name("blobs-down"), "v1", kind="oci-index", seed=31)
    tag_refused = seed(registry, repo_name("tag-refused"), "v1", kind="oci-index", seed=32)
    fine = seed(registry, repo_name("fine"), "v1", kind="docker-list", seed=33)
    source = proxies(registry, Rule("503", kinds={"blob-get"}, repo=blobs_down.repository))
    # every child manifest arrives, but the tag is never accepted
    mirror = proxies(mirror_registry, Rule("502", kinds={"manifest-put"}, repo=tag_refused.repository, ref="^v1$"))
    run = sync(mirrors=[f"{mirror.host}/pb"], hosts=[source.host, mirror.host], retries=2,
               images=[{"source": f"{source.host}/{i.repository}:v1"} for i in (blobs_down, tag_refused, fine)])

    assert run.returncode == 1, run.stderr
    assert run.report["status"] == "PartiallyFailed"
    down, refused = run.image(blobs_down.repository), run.image(tag_refused.repository)
    assert down["status"] == refused["status"] == "failed"
    assert "HTTP 503" in down["error"] and "blob" in down["error"] and one_line(down["error"])
    assert "HTTP 502" in refused["error"] and "pushing manifest" in refused["error"] and one_line(refused["error"])
    assert down["destinations"][0]["error"] and refused["destinations"][0]["error"]
    assert_mirrored(mirror_registry, f"pb/{fine.repository}", "v1", fine.digest)
    assert_untagged(mirror_registry, f"pb/{blobs_down.repository}")
    assert_untagged(mirror_registry, f"pb/{tag_refused.repository}")
    with oracle_client(mirror_registry) as client:  # what did arrive of it is complete
        for child in tag_refused.children.values():
            assert image_problems(client, f"pb/{tag_refused.repository}", child) == []
    assert idms_sources(run) == {f"{source.host}/{fine.repository}"}
    # the per-image lines on stderr say which image failed and why
    assert any("failed" in line and blobs_down.repository in line and "503" in line
               for line in run.stderr.splitlines())


def test_heavy_faults_fail_images_but_never_leave_a_tag_on_incomplete_content(sync, proxies, registry,
                                                                              mirror_registry, seed, repo_name):
    images = [seed(registry, repo_name(f"chaos{i}"), "v1", kind=kind, seed=40 + i)
              for i, kind in enumerate(["oci-index", "docker-list", "oci", "docker", "oci-index", "oci"])]
    rules = [Rule(m, kinds=COPY_KINDS, fraction=0.12) for m in ("503", "reset", "truncate")]
    source = proxies(registry, *rules, seed=7)
    mirror = proxies(mirror_registry, *rules, seed=8)
    run = sync(mirrors=[f"{mirror.host}/chaos"], hosts=[source.host, mirror.host], retries=1,
               options={"blobConcurrency": 1},
               images=[{"source": f"{source.host}/{i.repository}:v1"} for i in images])

    records = {r["source"]: r for r in run.report["images"]}
    failed = [i for i in images if records[f"{source.host}/{i.repository}"]["status"] == "failed"]
    copied = [i for i in images if records[f"{source.host}/{i.repository}"]["status"] == "copied"]
    assert len(failed) + len(copied) == len(images)
    assert failed, "nothing failed: the fault rate is too low for this test to mean anything"
    assert run.returncode == 1 and run.report["status"] in ("PartiallyFailed", "Failed")
    for img in copied:
        assert_mirrored(mirror_registry, f"chaos/{img.repository}", "v1", img.digest)
    for img in failed:
        record = records[f"{source.host}/{img.repository}"]
        assert one_line(record["error"]), record
        assert_untagged(mirror_registry, f"chaos/{img.repository}")
    assert idms_sources(run) == {f"{source.host}/{i.repository}" for i in copied}


@pytest.mark.parametrize("kind", ["blob-get", "manifest-get"])
def test_a_source_serving_wrong_bytes_fails_that_image_and_nothing_of_it_is_tagged(kind, sync, proxies, registry,
                                                                                   mirror_registry, seed,
                                                                                   repo_name):
    liar = seed(registry, repo_name("liar"), "v1", kind="oci-index", layer_size=30_000, seed=51)
    honest = seed(registry, repo_name("honest"), "v1", kind="oci", seed=52)
    source = proxies(registry, Rule("corrupt", kinds={kind}, repo=liar.repository))
    run = sync(mirrors=[f"{mirror_registry.host}/dm"], hosts=[source.host, mirror_registry.host], retries=2,
               images=[{"source": f"{source.host}/{i.repository}:v1"} for i in (liar, honest)])

    assert run.returncode == 1, run.stderr
    record = run.image(liar.repository)
    assert record["status"] == "failed" and one_line(record["error"])
    assert "content has digest" in record["error"] and "expected sha256:" in record["error"]
    assert_untagged(mirror_registry, f"dm/{liar.repository}")
    with oracle_client(mirror_registry) as client:
        for blob in liar.blobs:  # none of the bad bytes (and here nothing at all) reached the mirror
            assert client.head(f"/v2/dm/{liar.repository}/blobs/{blob}").status_code == 404
    assert_mirrored(mirror_registry, f"dm/{honest.repository}", "v1", honest.digest)
    assert idms_sources(run) == {f"{source.host}/{honest.repository}"}


# --- short-lived tokens ---------------------------------------------------------------------------------------------


def test_a_long_run_outlives_short_lived_tokens(sync, proxies, make_registry, seed, repo_name, tmp_path):
    lifetime = 2  # seconds the registry accepts a token
    users = {"robot": TokenUser("robot-password", {"*": {"*"}})}
    with TokenServer(tmp_path / "tokens", users, lifetime=lifetime) as tokens:
        registry = make_registry("short-tokens", token=tokens.auth_config)
        registry.username, registry.password = "robot", "robot-password"
        repo = repo_name("app")
        images = [seed(registry, repo, tag, kind="oci-index", layers=3, seed=60 + i)
                  for i, tag in enumerate(["v1", "v2", "v3"])]
        tokens.reset_counters()
        # Every source request takes 100 ms more, one at a time: pulling the one repository takes several token
        # lifetimes. The mirror is the same registry (push tokens), reached directly.
        source = proxies(registry, Rule("delay", seconds=0.1))
        robot = {"auth": base64.b64encode(b"robot:robot-password").decode()}
        auth = tmp_path / "auth.json"
        auth.write_text(json.dumps({"auths": {registry.host: robot, source.host: robot}}))
        auth.chmod(0o600)
        run = sync(mirrors=[f"{registry.host}/mirror"], hosts=[source.host, registry.host, tokens.host],
                   options={"concurrency": 1, "blobConcurrency": 1}, args=("--authfile", str(auth)),
                   images=[{"source": f"{source.host}/{repo}", "tags": ["v1", "v2", "v3"]}])
        issued = tokens.requests

    assert run.returncode == 0, run.stderr
    times = [s.at for s in source.seen]
    assert times[-1] - times[0] > 1.5 * lifetime, "the run was too short to outlive a token"
    scopes = [set(r.scopes) for r in issued if r.status == 200]
    pull = [s for s in scopes if s == {f"repository:{repo}:pull"}]
    push = [s for s in scopes if f"repository:mirror/{repo}:pull,push" in s]
    # tokens for the same scope fetched again: the first ones expired during the run
    assert len(pull) >= 2 and len(push) >= 2, scopes
    assert all(r.status == 200 for r in issued)
    assert {i["status"] for i in run.report["images"]} == {"copied"}
    assert [i["digest"] for i in sorted(run.report["images"], key=lambda i: i["tag"])] == [i.digest for i in images]
