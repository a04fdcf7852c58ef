"""Sharding a plan by source repository: deterministic, a partition, and the same on every machine."""

import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrorsync.sync import manifest, plan
from mirrorsync.errors import InputError
from mirrorsync.sync.plan import Shard, shard_of


def load(n: int):
    images = "".join(f"  - source: quay.io/team/app{i}\n    tags: [v1, v2]\n"
                     f"  - source: quay.io/team/app{i}\n    allTags: true\n" for i in range(n))
    return manifest.parse(textwrap.dedent("""\
        apiVersion: mirrorsync.dev/v1alpha1
        kind: SyncManifest
        mirrors: [mirror.example:5000/m]
        images:
        """) + images, "m.yaml")


def test_pinned_assignments():
    # These pin the hash: changing it would move repositories between the pods of a running Indexed Job.
    assert shard_of("quay.io/openshift/origin-cli", 4) == 3
    assert shard_of("docker.io/library/busybox", 4) == 0
    assert shard_of("registry.example.com/team/app", 7) == 6


def test_independent_of_python_hash_seed():
    code = "from mirrorsync.sync.plan import shard_of; print([shard_of(f'q.io/r{i}', 5) for i in range(50)])"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outs) == 1


@settings(max_examples=30, deadline=None)
@given(count=st.integers(min_value=1, max_value=6), repos=st.integers(min_value=1, max_value=12))
def test_shards_partition_the_plan(count, repos):
    m = load(repos)
    listed = []

    def list_tags(ref):
        listed.append(ref.name)
        return ["v1", "v3"]

    whole = plan.build(m, list_tags)
    parts = [plan.build(m, list_tags, shard=Shard(i, count)) for i in range(count)]
    jobs = [(str(j), j.destinations) for p in parts for j in p.jobs]
    assert sorted(jobs) == sorted((str(j), j.destinations) for j in whole.jobs)
    for i, p in enumerate(parts):
        # all of a repository's jobs are in one shard, and only that shard lists its tags
        assert all(shard_of(j.source.name, count) == i for j in p.jobs)
    assert sorted(listed) == sorted(2 * [f"quay.io/team/app{i}" for i in range(repos)])


def test_plan_failures_stay_with_their_shard():
    m = load(6)

    def broken(ref):
        raise ConnectionError("down")

    failures = [f.spec.source.name for i in range(3) for f in plan.build(m, broken, shard=Shard(i, 3)).failures]
    assert sorted(failures) == sorted(f"quay.io/team/app{i}" for i in range(6))


@pytest.mark.parametrize("text,expected", [("0/1", Shard(0, 1)), ("3/4", Shard(3, 4)), (" 2 / 10 ", Shard(2, 10))])
def test_parse(text, expected):
    assert Shard.parse(text) == expected
    assert str(Shard.parse(text)) == f"{expected.index}/{expected.count}"


@pytest.mark.parametrize("text", ["", "1", "4/4", "0/0", "-1/3", "a/b", "1/2/3"])
def test_parse_rejects(text):
    with pytest.raises(InputError) as info:
        Shard.parse(text)
    assert info.value.exit_code == 2 and str(info.value).startswith("--shard: ")


def test_from_env():
    assert Shard.from_env({}) is None
    assert Shard.from_env({"JOB_COMPLETION_INDEX": "2"}) is None  # a lone Indexed Job index is no shard count
    assert Shard.from_env({"JOB_COMPLETION_INDEX": "2", "MIRRORSYNC_SHARD_COUNT": "4"}) == Shard(2, 4)
    with pytest.raises(InputError, match="JOB_COMPLETION_INDEX/MIRRORSYNC_SHARD_COUNT"):
        Shard.from_env({"JOB_COMPLETION_INDEX": "4", "MIRRORSYNC_SHARD_COUNT": "4"})


def test_plan_failure_names_the_listing_once():
    m = load(1)

    def not_found(ref):
        from mirrorsync.errors import NotFound
        raise NotFound(f"listing tags of {ref.name}: HTTP 404 NAME_UNKNOWN: repository name not known")

    def down(ref):
        raise ConnectionError("down")

    [failure] = plan.build(m, not_found).failures
    assert failure.error == "listing tags of quay.io/team/app0: HTTP 404 NAME_UNKNOWN: repository name not known"
    [failure] = plan.build(m, down).failures
    assert failure.error.startswith("listing tags of quay.io/team/app0: ") and "down" in failure.error
