"""Four ``mirrorsync run --shard i/4`` processes side by side do exactly what one unsharded run does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mirrorsync.sync.plan import shard_of
from support.cli import mirrorsync, registry_settings, write_manifest

pytestmark = pytest.mark.integration

COUNT = 4


def test_four_shards_side_by_side_equal_one_run(registry, make_registry, seed, unique_repo, tmp_path):
    mirror = make_registry("shard-mirror")
    repos = [unique_repo(f"s{i}") for i in range(10)]
    for i, repo in enumerate(repos):
        seed(registry, repo, "v1", kind="oci", arches=("amd64",), seed=i)
        if i % 3 == 0:
            seed(registry, repo, "v2", kind="oci-index", seed=i)
    assert len({shard_of(f"{registry.host}/{r}", COUNT) for r in repos}) > 1  # the split is not trivial
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror.host}/m"],
                              images=[{"source": f"{registry.host}/{r}", "allTags": True} for r in repos],
                              registries={r.host: registry_settings(r) for r in (registry, mirror)},
                              options={"retries": 1})

    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
    procs = []
    for i in range(COUNT):
        # shard 0 finds its place as a pod of an Indexed Job would, from the environment
        args = [] if i == 0 else ["--shard", f"{i}/{COUNT}", "--metrics-file", str(tmp_path / f"shard-{i}.prom")]
        shard_env = {**env, "JOB_COMPLETION_INDEX": str(i), "MIRRORSYNC_SHARD_COUNT": str(COUNT)} if i == 0 else env
        procs.append(subprocess.Popen([sys.executable, "-m", "mirrorsync", "run", str(manifest), "--output-dir",
                                       str(tmp_path / f"shard-{i}"), *args], env=shard_env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL))
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err

    reports = [json.loads((tmp_path / f"shard-{i}" / "report.json").read_text()) for i in range(COUNT)]
    for i in range(1, COUNT):
        values = {(s.name, s.labels.get("result")): s.value
                  for f in text_string_to_metric_families((tmp_path / f"shard-{i}.prom").read_text()) for s in f.samples}
        assert values[("mirrorsync_last_run_images", "copied")] == len(reports[i]["images"])
        assert values[("mirrorsync_last_run_bytes", "copied")] == reports[i]["totals"]["bytesSent"]
        assert values[("mirrorsync_last_run_success", None)] == 1
    by_shard = [{img["source"] for img in r["images"]} for r in reports]
    for i, sources in enumerate(by_shard):
        assert all(shard_of(s, COUNT) == i for s in sources)
    assert sum(len(r["images"]) for r in reports) == len(repos) + 4  # each image in exactly one shard
    assert set().union(*by_shard) == {f"{registry.host}/{r}" for r in repos}

    merged = tmp_path / "merged"
    gen = mirrorsync("generate", *[str(tmp_path / f"shard-{i}" / "report.json") for i in range(COUNT)],
                     "--output-dir", str(merged))
    assert gen.returncode == 0, gen.stderr

    # One unsharded run afterwards finds every image already on the mirror (the shards copied exactly that)...
    whole = tmp_path / "whole"
    run = mirrorsync("run", str(manifest), "--output-dir", str(whole))
    assert run.returncode == 0, run.stderr
    rep = json.loads((whole / "report.json").read_text())
    assert len(rep["images"]) == len(repos) + 4
    assert {i["status"] for i in rep["images"]} == {"up-to-date"} and rep["totals"]["bytesSent"] == 0
    digests = {(i["source"], i["tag"]): i["digest"] for r in reports for i in r["images"]}
    assert digests == {(i["source"], i["tag"]): i["digest"] for i in rep["images"]}
    # ...and writes the same CR bytes as the merged shard reports.
    whole, merged = whole / "cluster-resources", merged / "cluster-resources"
    crs = sorted(p.name for p in whole.iterdir())
    assert crs == sorted(p.name for p in merged.iterdir()) and "imagedigestmirrorset.yaml" in crs
    for name in crs:
        assert (whole / name).read_bytes() == (merged / name).read_bytes(), name
