"""A source a WAN away gets more images in flight than ``concurrency``; a 429 takes the run back to it.

The source is a real registry behind the fault proxy, which delays its answers: pings (what the run times to
learn the round trip) by 50 ms, manifest HEADs (all a no-op asks the source) by 300 ms. With ``concurrency: 2``
two workers can start at most two HEADs in any 200 ms; more than that means more images were in flight.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.samples import push_image
from support.cli import mirrorsync, write_manifest
from support.fault_proxy import Rule

pytestmark = pytest.mark.integration

FAST = {"MIRRORSYNC_RETRY_WAIT": "0.01"}
IMAGES = 24
HEAD_DELAY = 0.3
WINDOW = 0.2


@pytest.fixture
def no_op(tmp_path: Path, registry, mirror_registry, proxies, pusher_for, unique_repo):
    """A source proxy and a manifest of IMAGES tags whose mirror is already filled: the next run is a no-op."""
    repo = unique_repo("src")
    pusher = pusher_for(registry)
    for n in range(IMAGES):
        push_image(pusher, repo, f"v{n}", kind="oci", arches=("amd64",), layers=1, layer_size=256, seed=n)
    source = proxies(registry)
    manifest = write_manifest(
        tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/{unique_repo('mirror')}"],
        images=[{"source": f"{source.host}/{repo}", "tags": [f"v{n}" for n in range(IMAGES)]}],
        registries={h: {"tlsVerify": False} for h in (source.host, mirror_registry.host)},
        options={"concurrency": 2})
    fill = mirrorsync("run", str(manifest), "--output-dir", str(tmp_path / "fill"), env=FAST)
    assert fill.returncode == 0, fill.stderr
    source.reset_counters()
    return source, manifest


def run_no_op(tmp_path: Path, manifest: Path) -> dict:
    result = mirrorsync("run", str(manifest), "--output-dir", str(tmp_path / "out"), env=FAST)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["totals"]["upToDate"] == IMAGES and report["totals"]["bytesSent"] == 0
    return report


def most_in_a_window(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + WINDOW) for start in times)


def test_a_far_source_gets_more_images_in_flight(tmp_path, no_op):
    source, manifest = no_op
    source.rules = [Rule("delay", kinds={"ping"}, seconds=0.05),
                    Rule("delay", kinds={"manifest-head"}, seconds=HEAD_DELAY)]
    run_no_op(tmp_path, manifest)
    heads = [s.at for s in source.seen if s.kind == "manifest-head"]
    assert len(heads) == IMAGES
    assert most_in_a_window(heads) > 2  # 50 ms round trip: 4 x concurrency, 8 workers


def test_a_429_takes_the_run_back_to_its_concurrency(tmp_path, no_op):
    source, manifest = no_op
    source.rules = [Rule("429", kinds={"manifest-head"}, limit=1, retry_after="0"),
                    Rule("delay", kinds={"ping"}, seconds=0.05),
                    Rule("delay", kinds={"manifest-head"}, seconds=HEAD_DELAY)]
    run_no_op(tmp_path, manifest)
    heads = sorted(s.at for s in source.seen if s.kind == "manifest-head")
    [throttled] = [s.at for s in source.seen if s.fault == "429"]
    # the added workers finish the image they hold (one more HEAD each, at most HEAD_DELAY + a retry), then stop
    later = [t for t in heads if t > throttled + 3 * HEAD_DELAY]
    assert len(later) >= 4
    assert most_in_a_window(later) <= 2
