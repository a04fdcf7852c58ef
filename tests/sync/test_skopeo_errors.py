"""How the skopeo engine tells a failure worth another run from one that is not: ``mirrorsync.sync.skopeo.classify``
over skopeo's real error texts, captured through the fault proxy (tests/data/skopeo/, see its README), and over
fresh ones from the installed skopeo."""

from __future__ import annotations

import itertools
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from mirrorsync.registry.auth import Credentials
from devtools.devregistry import LocalRegistry
from mirrorsync.sync.manifest import RegistrySettings
from mirrorsync.sync.skopeo import (MISMATCH, PERMANENT, STOPPED, STUCK_RUNS, TRANSIENT, Outcome, Transcript, _Budget,
                                    auth_memfd, auth_path, classify, clean_message, copy_argv, exit_error, failure_step,
                                    find_skopeo, run_skopeo)
from support.fault_proxy import FaultProxy, Rule

DATA = Path(__file__).parents[1] / "data" / "skopeo"
CAPTURED = sorted(DATA.glob("*--*.txt"))
CLASSES = {"transient": TRANSIENT, "permanent": PERMANENT, "mismatch": MISMATCH}


def error_of(stderr_lines: list[str]) -> str:
    """The error text the engine makes of a failed skopeo's stderr (as ``run_skopeo`` does, for exit code 1)."""
    t = Transcript()
    for line in stderr_lines:
        t.feed(line)
    assert t.fatal, "skopeo said nothing fatal"
    return clean_message(exit_error(1, t))


def test_the_captured_texts_cover_every_fault_the_proxies_inject():
    cases = [p.name.removesuffix(".txt").split("--") for p in CAPTURED]
    modes = {mode for expected, _side, _kind, mode in cases if expected == "transient"}
    # 429 only where skopeo's own 429 handling gives up (an upload PATCH, a manifest PUT)
    assert modes == {"500", "502", "503", "504", "429", "reset", "truncate"}
    kinds = {(side, kind) for expected, side, kind, _mode in cases if expected == "transient"}
    assert {("source", "manifest-get"), ("source", "blob-get"), ("mirror", "upload-put"),
            ("mirror", "manifest-put"), ("mirror", "tag-put")} <= kinds
    assert {expected for expected, *_ in cases} == set(CLASSES)


@pytest.mark.parametrize("path", CAPTURED, ids=lambda p: p.stem)
def test_each_captured_skopeo_failure_is_classified_as_its_cause_says(path):
    expected = CLASSES[path.name.split("--")[0]]
    error = error_of(path.read_text().splitlines())
    kind, digest = classify(error)
    assert kind == expected, error
    if path.name.startswith("transient--mirror--tag-put--"):
        # skopeo's last word is its refusal to convert the index; the failed PUT is what the report must say
        assert error.startswith("skopeo: writing manifest: ") and "preserve digests" not in error
    if kind == MISMATCH:
        # the blob that did not match, to tell a second mismatch of the same blob (a source that keeps lying)
        assert digest and re.fullmatch(r"sha256:[0-9a-f]{64}", digest) and f"expected {digest}" in error


@pytest.mark.parametrize("text,expected", [
    # mirrorsync's own words about a skopeo that hung: a timeout
    ("skopeo made no progress for 60s and was killed", TRANSIENT),
    # a registry that is not there (yet), and DNS/TLS layers timing out
    ('skopeo: initializing source docker://127.0.0.1:1/a@sha256:00: pinging container registry 127.0.0.1:1: '
     'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused', TRANSIENT),
    ("skopeo: reading blob sha256:00: Get \"https://r.example/v2/a/blobs/sha256:00\": net/http: TLS handshake "
     "timeout", TRANSIENT),
    ("skopeo: writing blob: Patch \"https://r.example/v2/\": write tcp 10.0.0.1:5->10.0.0.2:443: write: broken pipe",
     TRANSIENT),
    ("skopeo: writing manifest: uploading manifest v1 to r.example/a: unavailable: service unavailable", TRANSIENT),
    # what no retry changes
    ("skopeo: copying image 1/1 from manifest list: Unexpectedly received a manifest list instead of a manifest "
     "for a single image", PERMANENT),
    ('skopeo: initializing source docker://r.example/a:v1: pinging container registry r.example: Get '
     '"https://r.example/v2/": x509: certificate signed by unknown authority', PERMANENT),
    ("skopeo: trying to reuse blob sha256:00 at destination: checking whether a blob sha256:00 exists in "
     "r.example/a: denied: requested access to the resource is denied", PERMANENT),
    ("skopeo was killed by SIGKILL", PERMANENT),
    (STOPPED, PERMANENT),
    ("skopeo: copying image 1/2 from manifest list: reading blob sha256:00: Error fetching blob: invalid status "
     "code from registry 404 (Not Found)", PERMANENT),
])
def test_classify_beyond_the_captures(text, expected):
    assert classify(text)[0] == expected


def test_an_http_status_is_read_as_a_status_not_as_any_number():
    # ports, digests and sizes that contain 500 or 429 say nothing about the answer
    text = ("skopeo: reading manifest sha256:5004290000 in 127.0.0.1:5000/a: manifest unknown: manifest unknown "
            "(429 bytes)")
    assert classify(text)[0] == PERMANENT


# --- live: the installed skopeo through the fault proxy ---------------------------------------------------------

@pytest.fixture
def no_auth() -> Iterator[int]:
    fd = auth_memfd({"127.0.0.1:1": Credentials("nobody", "unused")})
    yield fd
    os.close(fd)


@pytest.mark.integration
@pytest.mark.parametrize("side,rule,expected", [
    ("mirror", Rule("503", kinds={"manifest-put"}, limit=1), TRANSIENT),
    ("mirror", Rule("reset", kinds={"manifest-put"}, ref="^v1$"), TRANSIENT),
    ("mirror", Rule("reset", kinds={"upload-put"}, limit=1), TRANSIENT),
    ("source", Rule("truncate", kinds={"blob-get"}, limit=1), TRANSIENT),
    ("source", Rule("502", kinds={"manifest-get"}, limit=1), TRANSIENT),
    ("source", Rule("corrupt", kinds={"blob-get"}), MISMATCH),
    ("source", Rule("404", kinds={"blob-get"}), PERMANENT),
], ids=lambda v: v.mode if isinstance(v, Rule) else str(v))
def test_the_installed_skopeo_fails_in_words_that_classify_as_captured(side, rule, expected, registry,
                                                                       mirror_registry, seed, unique_repo, no_auth,
                                                                       tmp_path):
    # a fresh image each time, so skopeo's machine-wide blob info cache has nothing to mount from
    repo = unique_repo("live")
    img = seed(registry, repo, "v1", kind="oci", arches=("amd64",), layer_size=100_000, seed=zlib.crc32(repo.encode()))
    policy = tmp_path / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    upstream: LocalRegistry = registry if side == "source" else mirror_registry
    with FaultProxy(upstream, [rule], seed=5) as proxy:
        src = proxy.host if side == "source" else registry.host
        dst = proxy.host if side == "mirror" else mirror_registry.host
        plain = RegistrySettings(tls_verify=False)
        argv = copy_argv(find_skopeo()[0], f"docker://{src}/{img.repository}@{img.digest}",
                         f"docker://{dst}/live/{img.repository}:v1", source_settings=plain, dest_settings=plain,
                         auth_file=auth_path(no_auth), policy=str(policy))
        outcome = run_skopeo(argv, stall_timeout=60, pass_fds=(no_auth,))
        assert proxy.injected[rule.mode] >= 1
    assert not outcome.ok
    assert classify(outcome.error)[0] == expected, outcome.error


def test_a_step_is_the_same_whatever_broke_it_and_whichever_run_it_was():
    ping = "skopeo: initializing source docker://r:5000/a@sha256:ab: pinging container registry r:5000: "
    assert failure_step(ping + "invalid status code from registry 500 (Internal Server Error)") == \
        failure_step(ping + "invalid status code from registry 503 (Service Unavailable)")
    patch = ('skopeo: copying image 1/2 from manifest list: writing blob: Patch "http://m:5000/v2/a/blobs/uploads/'
             '{uuid}?_state={state}": read tcp 127.0.0.1:{port}->127.0.0.1:5000: read: connection reset by peer')
    first = failure_step(patch.format(uuid="5a3dbf81-0215", state="lotWNB", port=53224))
    assert first == failure_step(patch.format(uuid="577a6ee1-52a6", state="ivgIoV", port=53988))
    assert "5a3dbf81" not in first and "53224" not in first
    head = ("skopeo: copying image 1/2 from manifest list: trying to reuse blob sha256:{d} at destination: "
            "failed to read from destination repository a: 502 (Bad Gateway)")
    assert failure_step(head.format(d="aa")) != failure_step(head.format(d="bb"))  # two blobs, two requests


# --- the budget of one image: which failed runs are worth another -------------------------------------------------

class GrowsAsTold:
    """Stands in for the mirror's answer to "did the last run add anything?"."""

    def __init__(self, answers: Iterable[bool]) -> None:
        self.answers = iter(answers)

    def grew(self, _found_there: set[str]) -> bool:
        return next(self.answers)


def failed(error: str) -> Outcome:
    return Outcome(1, Transcript(), error)


TAG_503 = ("skopeo: writing manifest: uploading manifest v1 to m:5000/a: received unexpected HTTP status: "
           "503 Service Unavailable")


def test_one_step_failing_retries_plus_one_times_since_the_last_progress_ends_it():
    budget = _Budget(2, GrowsAsTold([True, False, False]))
    assert budget.spend(failed(TAG_503)) is None  # this run brought blobs: its failure is the step's first
    assert budget.spend(failed(TAG_503)) is None
    assert budget.spend(failed(TAG_503)) == ("transient: 3 runs failed at this step since the mirror last gained "
                                             "part of the image, 3 runs in all")


def test_runs_failing_each_elsewhere_go_on_until_many_in_a_row_add_nothing():
    budget = _Budget(1, GrowsAsTold(itertools.repeat(False)))
    head = ("skopeo: trying to reuse blob sha256:{:064x} at destination: failed to read from destination "
            "repository a: 502 (Bad Gateway)")
    limit = STUCK_RUNS * (1 + 1)
    assert all(budget.spend(failed(head.format(n))) is None for n in range(limit))
    assert budget.spend(failed(head.format(limit))) == f"transient: {limit + 1} runs in a row added nothing to " \
                                                       f"the mirror, {limit + 1} in all"


def test_a_blob_that_mismatches_twice_is_a_source_serving_wrong_bytes():
    mismatch = ("skopeo: writing blob: Patch \"http://m/v2/a/blobs/uploads/1\": happened during read: Digest did not "
                "match, expected sha256:{}, got sha256:" + "f" * 64)
    budget = _Budget(5, GrowsAsTold(itertools.repeat(False)))
    assert budget.spend(failed(mismatch.format("a" * 64))) is None
    assert budget.spend(failed(mismatch.format("b" * 64))) is None  # another blob: could be the wire again
    assert budget.spend(failed(mismatch.format("a" * 64))) == \
        "permanent: the source served content that does not match its digest again"


def test_no_retries_means_one_run_and_a_permanent_failure_is_never_retried():
    assert _Budget(0, GrowsAsTold([True])).spend(failed(TAG_503)) == "transient: not retried, retries is 0"
    assert _Budget(5, GrowsAsTold([])).spend(failed("skopeo: reading manifest v1 in s/a: manifest unknown: "
                                                    "manifest unknown")) == "permanent: not retried"
