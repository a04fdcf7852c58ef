"""Patterns over untrusted text run in linear time (issue 27 item 6, issue 36 item 7): RE2, Go's regexp engine.

The hostile inputs below took Python's backtracking ``re`` past 60 s (a tag filter) and past 100 s (the IDMS CRD's
source pattern over 40 letters and a "!"). Each test runs under an alarm so that a regression fails, not hangs.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from mirrorsync import linear_regex
from mirrorsync.cli.app import app
from mirrorsync.errors import InputError
from mirrorsync.openshift.crs import ICSP, IDMS, ITMS, MirrorEntry, MirrorSet, is_valid_mirror, is_valid_source
from mirrorsync.openshift.mco import crd_problems, validate_for_mco
from mirrorsync.openshift.registries_conf import render_registries_conf
from mirrorsync.sync.manifest import load as load_manifest
from mirrorsync.sync.tag_selection import select


@contextmanager
def within(seconds: int):
    def expire(signum, frame):
        raise AssertionError(f"still running after {seconds} s: backtracking")
    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


HOSTILE_SOURCE = "quay.io/" + "a" * 40 + "!"  # [a-z0-9]+ then ([-]*[a-z0-9]+)+: 2^40 ways to fail under re


def test_go_semantics_refusals_name_re2s_reason():
    assert linear_regex.search(r"^(\d+\.?)+$", "1.2.3") and not linear_regex.search(r"^(\d+\.?)+$", "1" * 34 + "x")
    assert not linear_regex.search("v1$", "v1\n")  # Go's $ is the end of the text; Python's also before a \n
    assert not linear_regex.search(r"^\d$", "١")  # Go's \d is ASCII
    for pattern, reason in ((r"(a)\1", "invalid escape sequence"), ("^(?!rc)", "invalid perl operator")):
        with pytest.raises(linear_regex.RegexError, match=reason):
            linear_regex.compile(pattern)


def _manifest(tmp_path: Path, include: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [mirror.example.com/m]\nimages:\n  - source: registry.example.com/team/app\n"
                    f"    include: ['{include}']\n")
    return path


def test_a_tag_filter_outside_go_syntax_is_refused_at_its_line(tmp_path):
    with pytest.raises(InputError) as caught:
        load_manifest(str(_manifest(tmp_path, "^v1(?=-)")))
    text = str(caught.value)
    assert "m.yaml:6" in text and "include" in text and "RE2" in text and "invalid perl operator" in text


def test_a_backtracking_tag_filter_decides_a_hostile_tag_list_at_once(tmp_path):
    spec = load_manifest(str(_manifest(tmp_path, r"^(\d+\.?)+$"))).images[0]
    tags = ["1" * n + "x" for n in range(20, 60)] + ["1.2.3", "10"]
    with within(10):
        taken = [d.tag for d in select(spec, tags) if d.taken]
    assert taken == ["1.2.3", "10"]


def test_the_crd_patterns_refuse_a_hostile_source_at_once():
    with within(10):
        assert not is_valid_source(HOSTILE_SOURCE) and not is_valid_mirror(HOSTILE_SOURCE)
        assert not is_valid_source("registry.redhat.io/ns/image@sha256:" + "a" * 64)
    assert is_valid_source("*.example.com") and is_valid_source("quay.io/ns/a-b__c.d")


# Text of the shapes that make backtracking explode: short chunks repeated, around the separators the patterns nest.
_CHUNK = st.text(alphabet="a-._/:@*1A!", min_size=1, max_size=5)
_HOSTILE = st.builds(lambda head, chunk, n, tail: head + chunk * n + tail,
                     st.sampled_from(["", "quay.io/", "a" * 30 + "/", "*.", "registry:5000/"]), _CHUNK,
                     st.integers(1, 600), st.sampled_from(["", "!", "A", "-", "@sha256:" + "a" * 64]))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(_HOSTILE | st.just("registry.example.com/ns/app"), min_size=1, max_size=8),
       count=st.integers(1, 10_000), kind=st.sampled_from([IDMS, ITMS, ICSP]))
def test_checking_and_rendering_10000_entries_of_any_text_ends_under_the_alarm(texts, count, kind):
    # No timing assertion (CI's shared cores made a 1 s bound flaky); the alarm fails a backtracking regression.
    entries = tuple(MirrorEntry(texts[i % len(texts)], (texts[(i + 1) % len(texts)],), None, i) for i in range(count))
    sets = [MirrorSet(kind, "x", entries, "sets.yaml", 1)]
    with within(20):
        try:
            validate_for_mco(sets)
            render_registries_conf(sets)
        except InputError:
            pass
        crd_problems(sets[0])


@pytest.mark.parametrize("command", ["registries-conf", "migrate-icsp"])
def test_the_commands_over_10000_entries_with_a_hostile_one_answer_at_once(tmp_path, command):
    bad = "registry.redhat.io/ns/image@sha256:" + "a" * 64
    entries = [{"source": f"registry{i % 50}.example.com/ns{i}/img", "mirrors": [f"mirror.example.com/m/ns{i}"]}
               for i in range(10_000)]
    entries[4000]["source"] = HOSTILE_SOURCE
    entries[5000]["source"] = bad
    path = tmp_path / "icsp.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "operator.openshift.io/v1alpha1",
                                    "kind": "ImageContentSourcePolicy", "metadata": {"name": "x"},
                                    "spec": {"repositoryDigestMirrors": entries}}))
    args = [command, str(path)] + (["--dest-dir", str(tmp_path / "out")] if command == "migrate-icsp" else [])
    with within(20):
        result = CliRunner().invoke(app, args)
    if command == "registries-conf":  # the MCO refuses the first bad source, with the file's line and field
        assert result.exit_code == 2, result.output
        assert "icsp.yaml:" in result.output and "spec.repositoryDigestMirrors[4000].source" in result.output
        assert "invalid format for source" in result.output
    else:  # oc adm migrate icsp copies what it is given: the API server judges it
        assert result.exit_code == 0, result.output
        assert len(list((tmp_path / "out").iterdir())) == 1
