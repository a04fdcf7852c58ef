"""Two runs in one process (the Python API, a service embedding mirrorsync) keep their own retry counts and
throttle flags: both belong to the run's clients (``RetryPolicy.ledger``), not to the process.

Real docker-registry, a fault proxy injecting 429s in front of one source; the runs go at the same time.
"""

from __future__ import annotations

import threading
import time

import pytest

from mirrorsync.pipeline.runner import Runner
from mirrorsync.pipeline.sections import load_manifest
from support.cli import write_manifest
from support.fault_proxy import Rule

pytestmark = pytest.mark.integration


def test_two_runs_at_once_count_only_their_own_retries(tmp_path, monkeypatch, proxies, registry, mirror_registry,
                                                        seed):
    monkeypatch.setenv("MIRRORSYNC_RETRY_WAIT", "0.01")
    throttled_img = seed(registry, "state/throttled", "v1", kind="oci", arches=("amd64",), seed=71)
    clean_img = seed(registry, "state/clean", "v1", kind="oci", arches=("amd64",), seed=72)
    source = proxies(registry, Rule("429", kinds={"manifest-get"}, retry_after="1", limit=2))

    def runner(name: str, host: str, repo: str) -> Runner:
        path = write_manifest(tmp_path / f"{name}.yaml", mirrors=[f"{mirror_registry.host}/{name}"],
                              images=[{"source": f"{host}/{repo}:v1"}],
                              registries={h: {"tlsVerify": False} for h in (host, mirror_registry.host)},
                              options={"retries": 4})
        return Runner(load_manifest(str(path)))

    runs = {"throttled": runner("throttled", source.host, throttled_img.repository),
            "clean": runner("clean", registry.host, clean_img.repository)}
    reports = {}

    def go(name: str) -> None:
        reports[name] = runs[name].run()

    threads = {name: threading.Thread(target=go, args=(name,)) for name in runs}
    threads["throttled"].start()
    # the clean run starts between the throttled run's retries: a count shared by the process, reset when a run
    # starts, would lose the first of them and give the clean run's report the second
    deadline = time.monotonic() + 30
    while not any(s.fault == "429" for s in source.seen) and time.monotonic() < deadline:
        time.sleep(0.01)
    threads["clean"].start()
    for t in threads.values():
        t.join(120)

    assert reports["throttled"].status == "Succeeded" and reports["clean"].status == "Succeeded"
    assert reports["throttled"].retries == 2  # the two 429s, and nothing of the other run's
    assert reports["clean"].retries == 0
    assert [i.retries for i in reports["clean"].images] == [0]
    assert [i.retries for i in reports["throttled"].images] == [2]
