"""A failed sync never takes mirrors away from a cluster (issue 12).

Scheduled runs write into one output directory that a cluster applies, often by a GitOps tool that prunes what
disappeared. Each test syncs, then breaks something (the source stops, a signal arrives, the manifest narrows,
the mirror loses an image) and re-runs into the same directory: the mirror sets keep exactly what the mirrors
still hold for what the manifest still selects, and the run says what it removed.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from mirrorsync.sync.report import load as load_report
from support.cli import Run, mirrorsync, write_manifest
from support.fault_proxy import Rule
from support.wipe import wipe
from test_interrupts import Background, crs_sources

pytestmark = pytest.mark.integration

CR_FILES = ("imagedigestmirrorset.yaml", "imagetagmirrorset.yaml")


@pytest.fixture
def sync(tmp_path):
    """``sync(mirrors=..., images=..., hosts=[...])`` -> Run of ``mirrorsync run`` into ``tmp_path/out``."""
    counter = iter(range(1000))

    def go(*, hosts: list[str], args: tuple[str, ...] = (), **manifest) -> Run:
        manifest.setdefault("options", {"retries": 0})
        path = write_manifest(tmp_path / f"manifest-{next(counter)}.yaml",
                              registries={h: {"tlsVerify": False} for h in hosts}, **manifest)
        out = tmp_path / "out"
        proc = mirrorsync("run", str(path), "--output-dir", str(out), *args,
                          env={"MIRRORSYNC_RETRY_WAIT": "0.01"})
        return Run(proc.returncode, proc.stdout, proc.stderr, out)

    return go


def cr_bytes(out: Path) -> dict[str, bytes]:
    """The CR files under ``out`` (wherever below it the run puts them) by name."""
    paths = [p for p in out.rglob("*.yaml") if p.name in CR_FILES]
    assert len({p.name for p in paths}) == len(paths), paths
    return {p.name: p.read_bytes() for p in paths}


def removal_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "removing mirror entry" in line]


def test_source_down_rerun_keeps_the_mirror_sets_byte_for_byte(sync, make_registry, mirror_registry, seed,
                                                               unique_repo, tmp_path):
    source = make_registry("keep-src")
    tagged = [seed(source, unique_repo(f"t{i}"), "v1", kind="oci", arches=("amd64",), seed=300 + i)
              for i in range(2)]
    listed = [seed(source, unique_repo(f"l{i}"), "1.0", kind="oci-index", seed=310 + i) for i in range(2)]
    images = ([{"source": f"{source.host}/{i.repository}:v1"} for i in tagged]
              + [{"source": f"{source.host}/{i.repository}", "include": [r"^1\."]} for i in listed])
    manifest = dict(mirrors=[f"{mirror_registry.host}/keep"], images=images,
                    hosts=[source.host, mirror_registry.host])
    first = sync(**manifest)
    assert first.returncode == 0, first.stderr
    before = cr_bytes(first.output_dir)
    assert set(before) == set(CR_FILES)

    source.stop()
    for attempt in range(2):  # the second re-run keeps what the first one only kept
        again = sync(**manifest)
        assert again.returncode == 1, again.stderr
        assert cr_bytes(again.output_dir) == before, again.stderr
        assert removal_lines(again.stderr) == []
        assert "6 failed (4 of them kept on the mirrors from earlier runs)" in again.stderr
        report = again.report
        assert report["status"] == "Failed" and report["removedEntries"] == []
        for img in tagged + listed:
            tag = "v1" if img in tagged else "1.0"
            rec = again.image(img.repository, tag)
            assert rec["status"] == "failed" and rec["onMirror"] is True, rec
            assert rec["mirroredDigest"] == img.digest
            assert [(d["status"], d["onMirror"]) for d in rec["destinations"]] == [("failed", True)]
        # the sources that could not be listed still say so, once per manifest entry
        unplanned = [i for i in report["images"] if i["tag"] is None and i["digest"] is None]
        assert sorted(i["source"] for i in unplanned) == sorted(f"{source.host}/{i.repository}" for i in listed)

    # generate over the kept report gives the same files; verify finds every kept image on the mirror
    regenerated = tmp_path / "regenerated"
    gen = mirrorsync("generate", str(again.output_dir / "report.json"), "--output-dir", str(regenerated))
    assert gen.returncode == 0, gen.stderr
    assert cr_bytes(regenerated) == before
    checked = mirrorsync("verify", str(again.output_dir / "report.json"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "4 image(s) on mirrors checked" in checked.stderr


def test_source_answering_503_on_tag_lists_drops_nothing(sync, registry, mirror_registry, seed, unique_repo,
                                                         proxies):
    img = seed(registry, unique_repo("503"), "2.0", kind="oci", arches=("amd64",), seed=320)
    source = proxies(registry)
    manifest = dict(mirrors=[f"{mirror_registry.host}/k503"], hosts=[source.host, mirror_registry.host],
                    images=[{"source": f"{source.host}/{img.repository}", "include": [r"^2\."]}])
    first = sync(**manifest)
    assert first.returncode == 0, first.stderr
    before = cr_bytes(first.output_dir)

    source.rules = [Rule("503", kinds={"tags"})]
    again = sync(**manifest)
    assert again.returncode == 1
    assert "503" in again.image(img.repository, None)["error"]
    assert again.image(img.repository, "2.0")["onMirror"] is True
    assert cr_bytes(again.output_dir) == before


def test_sigterm_early_in_a_resync_that_adds_tags_keeps_every_old_entry(tmp_path, registry, make_registry, seed,
                                                                       unique_repo, proxies):
    mirror = make_registry("keep-sig-mirror")
    repos = [unique_repo(f"sig{i}") for i in range(4)]
    old = {r: seed(registry, r, "v1", kind="oci", arches=("amd64",), seed=330 + i) for i, r in enumerate(repos)}
    for i, r in enumerate(repos):
        seed(registry, r, "v2", kind="oci", arches=("amd64",), seed=340 + i)
    source = proxies(registry, Rule("delay", kinds={"blob-get"}, seconds=0.3))
    hosts = {source.host: {"tlsVerify": False}, mirror.host: {"tlsVerify": False}}
    out = tmp_path / "out"

    def manifest(name: str, tags: list[str]) -> Path:
        return write_manifest(tmp_path / name, mirrors=[f"{mirror.host}/sig"], registries=hosts,
                              options={"retries": 1, "concurrency": 1},
                              images=[{"source": f"{source.host}/{r}", "tags": tags} for r in repos])

    first = mirrorsync("run", str(manifest("old.yaml", ["v1"])), "--output-dir", str(out))
    assert first.returncode == 0, first.stderr
    old_sources = crs_sources(out)
    assert old_sources == {f"{source.host}/{r}" for r in repos}
    old_itms = (out / "cluster-resources" / "imagetagmirrorset.yaml").read_bytes()

    # The new tag of each repository comes first: the signal lands before most old tags are looked at.
    run = Background("run", str(manifest("new.yaml", ["v2", "v1"])), "--output-dir", str(out))
    run.wait_for_line(r"^\[1/8\] copied")
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 1, run.stderr

    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "Interrupted" and report["removedEntries"] == []
    skipped_old = [i for i in report["images"] if i["tag"] == "v1" and i["status"] == "skipped"]
    assert skipped_old, "the signal came too late to test anything"
    for rec in skipped_old:
        repo = rec["source"].split("/", 1)[1]
        assert rec["onMirror"] is True and rec["mirroredDigest"] == old[repo].digest
    assert crs_sources(out) == old_sources
    assert (out / "cluster-resources" / "imagetagmirrorset.yaml").read_bytes() == old_itms
    assert "removing mirror entry" not in run.stderr


def test_a_narrowed_manifest_removes_exactly_the_dropped_entries_and_says_so(sync, registry, mirror_registry, seed,
                                                                            unique_repo):
    kept, dropped, digest_only = (seed(registry, unique_repo(n), "v1", kind="oci", arches=("amd64",), seed=350 + i)
                                  for i, n in enumerate(("kept", "dropped", "digest-only")))
    hosts = [registry.host, mirror_registry.host]
    mirror = f"{mirror_registry.host}/narrow"
    first = sync(mirrors=[mirror], hosts=hosts,
                 images=[{"source": f"{registry.host}/{i.repository}:v1"} for i in (kept, dropped, digest_only)])
    assert first.returncode == 0, first.stderr

    again = sync(mirrors=[mirror], hosts=hosts,
                 images=[{"source": f"{registry.host}/{kept.repository}:v1"},
                         {"source": f"{registry.host}/{digest_only.repository}:v1", "mirrorSets": ["digest"]}])
    assert again.returncode == 0, again.stderr
    expected = [
        {"source": f"{registry.host}/{digest_only.repository}", "mirror": f"{mirror}/{digest_only.repository}",
         "mirrorSets": ["tag"], "reason": "no image the manifest selects from this source is on this mirror"},
        {"source": f"{registry.host}/{dropped.repository}", "mirror": f"{mirror}/{dropped.repository}",
         "mirrorSets": ["digest", "tag"], "reason": "the manifest no longer selects this source"},
    ]
    assert again.report["removedEntries"] == sorted(expected, key=lambda e: e["source"])
    lines = removal_lines(again.stderr)
    assert len(lines) == 2
    assert f"{registry.host}/{dropped.repository} -> {mirror}/{dropped.repository} (digest, tag)" in "\n".join(lines)
    idms = {e["source"] for obj in again.cr("imagedigestmirrorset.yaml") for e in obj["spec"]["imageDigestMirrors"]}
    itms = {e["source"] for obj in again.cr("imagetagmirrorset.yaml") for e in obj["spec"]["imageTagMirrors"]}
    assert idms == {f"{registry.host}/{kept.repository}", f"{registry.host}/{digest_only.repository}"}
    assert itms == {f"{registry.host}/{kept.repository}"}

    # a run with nothing to remove says nothing about removals
    third = sync(mirrors=[mirror], hosts=hosts, images=[{"source": f"{registry.host}/{kept.repository}:v1"},
                                                        {"source": f"{registry.host}/{digest_only.repository}:v1",
                                                         "mirrorSets": ["digest"]}])
    assert third.returncode == 0 and third.report["removedEntries"] == [] and removal_lines(third.stderr) == []


def test_an_image_gone_from_the_mirror_and_failing_now_loses_its_entry(sync, make_registry, mirror_registry, seed,
                                                                      unique_repo):
    source = make_registry("gone-src")
    present, gone = (seed(source, unique_repo(n), "v1", kind="oci", arches=("amd64",), seed=360 + i)
                     for i, n in enumerate(("present", "gone")))
    manifest = dict(mirrors=[f"{mirror_registry.host}/gone"], hosts=[source.host, mirror_registry.host],
                    images=[{"source": f"{source.host}/{i.repository}:v1"} for i in (present, gone)])
    first = sync(**manifest)
    assert first.returncode == 0, first.stderr

    wipe(mirror_registry, f"gone/{gone.repository}", [gone.digest])
    source.stop()
    again = sync(**manifest)
    assert again.returncode == 1
    assert crs_sources(again.output_dir) == {f"{source.host}/{present.repository}"}
    assert again.image(gone.repository, "v1")["onMirror"] is False
    assert again.image(present.repository, "v1")["onMirror"] is True
    assert again.report["removedEntries"] == [
        {"source": f"{source.host}/{gone.repository}", "mirror": f"{mirror_registry.host}/gone/{gone.repository}",
         "mirrorSets": ["digest", "tag"],
         "reason": "this run could not copy its images and the mirror does not hold them"}]
    assert len(removal_lines(again.stderr)) == 1
    # the report still loads as the library reads it, with the kept digest for verify
    rep = load_report(str(again.output_dir / "report.json"))
    kept = next(i for i in rep.images if i.source.endswith(present.repository) and i.tag == "v1")
    assert kept.held_digest(kept.destinations[0]) == present.digest
