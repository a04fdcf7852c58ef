"""``mirrorsync prune`` against the real docker-registry (issue 17, "Taking away").

Each test syncs with a wide manifest, narrows it, and prunes into the same output directory: a dry run deletes
nothing and lists exactly what would go; ``--apply`` deletes exactly that (HEAD by digest answers 404) and keeps
everything else — a manifest a kept tag shares, a child of an index under a tag mirrorsync never put there, a tag
someone else moved, whole repositories mirrorsync knows nothing of. The CRs lose the entries before anything is
deleted (shown by a deletion that fails half-way, and by killing prune inside one), and later runs do not bring
them back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import mirrorsync as mirrorsync_api
from mirrorsync.sync.report import Report
from mirrorsync.pipeline.outputs import output_lock
from support.cli import Run, mirrorsync, realm_settings, write_auth_file, write_manifest
from support.fault_proxy import Rule, image_problems, oracle_client, tags_of
from test_interrupts import crs_sources

pytestmark = pytest.mark.integration

FAST = {"MIRRORSYNC_RETRY_WAIT": "0.01"}
ACCEPT = ",".join(["application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
                   "application/vnd.docker.distribution.manifest.list.v2+json",
                   "application/vnd.docker.distribution.manifest.v2+json"])


def retag(client: httpx.Client, repo: str, ref: str, tag: str) -> str:
    """Put the manifest at ``repo``/``ref`` under ``tag`` too (same bytes, same digest), as a user with crane
    or skopeo would; returns its digest."""
    got = client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT})
    got.raise_for_status()
    put = client.put(f"/v2/{repo}/manifests/{tag}", content=got.content,
                     headers={"Content-Type": got.headers["Content-Type"]})
    assert put.status_code == 201, put.text
    return put.headers["Docker-Content-Digest"]


def present(client: httpx.Client, repo: str, digest: str) -> bool:
    status = client.head(f"/v2/{repo}/manifests/{digest}", headers={"Accept": ACCEPT}).status_code
    assert status in (200, 404), status
    return status == 200


class Dir:
    """One output directory and the manifests written for it."""

    def __init__(self, tmp_path: Path, hosts: list[str], mirror: str) -> None:
        self.tmp, self.hosts, self.mirror = tmp_path, hosts, mirror
        self.out = tmp_path / "out"
        self._n = 0

    def manifest(self, images: list[dict]) -> Path:
        self._n += 1
        return write_manifest(self.tmp / f"manifest-{self._n}.yaml", mirrors=[self.mirror], images=images,
                              registries={h: {"tlsVerify": False} for h in self.hosts},
                              # one image at a time: two tags of one manifest copied at once to one repository
                              # can make docker-registry answer 400 DIGEST_INVALID, which is not what this tests
                              options={"retries": 0, "concurrency": 1})

    def run(self, manifest: Path, *args: str) -> Run:
        proc = mirrorsync("run", str(manifest), "--output-dir", str(self.out), *args, env=FAST)
        return Run(proc.returncode, proc.stdout, proc.stderr, self.out)

    def prune(self, manifest: Path, *args: str, guarded: bool = False) -> subprocess.CompletedProcess:
        """``guarded``: as a user types it; else the prune is meant (most tests drop a whole source on purpose,
        which ``--apply`` refuses without ``--allow-large-prune``)."""
        if "--apply" in args and not guarded:
            args += ("--allow-large-prune",)
        return mirrorsync("prune", str(manifest), "--output-dir", str(self.out), *args, env=FAST)

    def files(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.out)): p.read_bytes() for p in sorted(self.out.rglob("*"))
                if p.is_file() and p.name != ".mirrorsync.lock"}


def test_dry_run_lists_and_apply_deletes_exactly_what_the_manifest_no_longer_selects(
        tmp_path, registry, make_registry, seed, unique_repo):
    mirror = make_registry("prune-mirror")
    src = oracle_client(registry)
    mir = oracle_client(mirror)
    a, b = unique_repo("a"), unique_repo("b")
    one = seed(registry, a, "1.0", kind="oci-index", seed=1701)
    two = seed(registry, a, "2.0", kind="oci-index", seed=1702)
    three = seed(registry, a, "3.0", kind="oci", arches=("amd64",), seed=1703)
    assert retag(src, a, "1.0", "old") == one.digest  # "old" shares 1.0's manifest
    gone_b = seed(registry, b, "v1", kind="oci", arches=("amd64",), seed=1704)
    d = Dir(tmp_path, [registry.host, mirror.host], f"{mirror.host}/p")
    wide = d.manifest([{"source": f"{registry.host}/{a}", "tags": ["1.0", "old", "2.0", "3.0"]},
                       {"source": f"{registry.host}/{b}:v1"}])
    first = d.run(wide)
    assert first.returncode == 0, first.stderr
    ma, mb = f"p/{a}", f"p/{b}"
    # What others do on the mirror: a tag of their own on one child of 2.0, 3.0 moved to another image, and a
    # repository of their own.
    amd64, arm64 = two.children["linux/amd64"], two.children["linux/arm64"]
    assert retag(mir, ma, amd64, "theirs") == amd64
    moved = seed(mirror, ma, "3.0", kind="oci", arches=("amd64",), seed=1709)
    elsewhere = seed(mirror, "p/elsewhere", "x", kind="oci", arches=("amd64",), seed=1710)

    narrow = d.manifest([{"source": f"{registry.host}/{a}", "tags": ["1.0"]}])
    before = d.files()
    dry = d.prune(narrow)
    assert dry.returncode == 0, dry.stderr
    M = mirror.host
    assert sorted(dry.stdout.splitlines()) == sorted([
        f"kept: {M}/{ma}:old ({one.digest}): tag 1.0 names it and stays, and a registry deletes a manifest only with "
        f"all its tags (the manifest no longer names tag old of {registry.host}/{a})",
        f"would delete: {M}/{ma}:2.0 ({two.digest}): the manifest no longer names tag 2.0 of {registry.host}/{a}; "
        f"1 manifest(s) under it stay: tag theirs names it and stays",
        f"would delete: {M}/{ma}@{arm64} (a manifest under {two.digest})",
        f"moved: {M}/{ma}:3.0 ({three.digest}): the tag names {moved.digest} now, not what mirrorsync put there: "
        f"left alone (the manifest no longer names tag 3.0 of {registry.host}/{a})",
        f"would delete: {M}/{mb}:v1 ({gone_b.digest}): the manifest no longer selects {registry.host}/{b}",
    ]), dry.stdout
    assert "dry run (--apply to delete): 2 to delete, 1 kept, 1 moved" in dry.stderr
    # said before --apply is asked for: the entries b loses take its registry out of registries.conf
    drains = (f"applying {d.out}/cluster-resources/: drain: {registry.host}/{b}: registry removed")
    assert f"--apply removes 1 mirror-set entry; {drains}" in dry.stderr.splitlines()
    assert d.files() == before  # a dry run writes nothing
    for repo, digest in [(ma, one.digest), (ma, two.digest), (ma, arm64), (ma, amd64), (mb, gone_b.digest)]:
        assert present(mir, repo, digest)

    as_json = json.loads(d.prune(narrow, "--output", "json").stdout)
    assert as_json["kind"] == "PruneReport" and as_json["applied"] is False
    assert {(r["tag"], r["action"]) for r in as_json["removals"]} == {
        ("old", "kept"), ("2.0", "delete"), ("3.0", "moved"), ("v1", "delete")}
    assert [r["manifests"] for r in as_json["removals"] if r["tag"] == "2.0"] == [[two.digest, arm64]]
    api = mirrorsync_api.prune(narrow, d.out)  # the Python API's dry run says the same
    assert isinstance(api, mirrorsync_api.PruneResult) and not api.applied
    assert [r.to_dict() for r in api.removals] == as_json["removals"]
    assert d.files() == before

    applied = d.prune(narrow, "--apply")
    assert applied.returncode == 0, applied.stderr
    assert f"deleted: {M}/{ma}:2.0 ({two.digest})" in applied.stdout
    # exactly those are gone...
    assert not present(mir, ma, two.digest) and not present(mir, ma, arm64) and not present(mir, mb, gone_b.digest)
    assert tags_of(mir, mb) == []
    # ...and everything else stays, complete
    assert tags_of(mir, ma) == ["1.0", "3.0", "old", "theirs"]
    assert image_problems(mir, ma, "1.0") == [] and image_problems(mir, ma, "old") == []
    assert image_problems(mir, ma, "theirs") == [] and present(mir, ma, amd64)
    assert image_problems(mir, ma, "3.0") == [] and retag(mir, ma, "3.0", "3.0") == moved.digest
    assert image_problems(mir, "p/elsewhere", "x") == [] and present(mir, "p/elsewhere", elsewhere.digest)
    # the CRs and the report lost b; the report keeps only what the manifest selects
    assert crs_sources(d.out) == {f"{registry.host}/{a}"}
    report = json.loads((d.out / "report.json").read_text())
    assert [(i["source"].rsplit("/", 1)[-1], i["tag"]) for i in report["images"]] == [(a.rsplit("/", 1)[-1], "1.0")]
    assert [(e["source"], e["mirror"]) for e in report["removedEntries"]] == [(f"{registry.host}/{b}", f"{M}/{mb}")]
    assert f"removing mirror entry {registry.host}/{b} -> {M}/{mb}" in applied.stderr
    assert f"removed 1 mirror-set entry; {drains}" in applied.stderr.splitlines()
    assert report["nodeImpact"] == {"verdict": "drain", "reasons": [f"{registry.host}/{b}: registry removed"]}
    kept = json.loads((d.out / "prune-report.json").read_text())
    assert {(r["tag"], r["action"]) for r in kept["removals"]} == {
        ("old", "kept"), ("2.0", "deleted"), ("3.0", "moved"), ("v1", "deleted")}

    # a later run of the narrowed manifest writes the same CRs; a second prune has nothing left to delete
    crs = {k: v for k, v in d.files().items() if k.startswith("cluster-resources/")}
    later = d.run(narrow)
    assert later.returncode == 0, later.stderr
    assert {k: v for k, v in d.files().items() if k.startswith("cluster-resources/")} == crs
    again = d.prune(narrow, "--apply")
    assert again.returncode == 0, again.stderr
    assert [line.split(":")[0] for line in again.stdout.splitlines()] == ["kept"]
    assert tags_of(mir, ma) == ["1.0", "3.0", "old", "theirs"]


def test_registry_refusing_delete_is_a_clear_error_and_later_runs_keep_nothing_pruned(
        tmp_path, registry, make_registry, seed, unique_repo, proxies):
    mirror = make_registry("prune-nodelete", delete_enabled=False)
    source = proxies(registry)
    mir = oracle_client(mirror)
    a, b = unique_repo("a"), unique_repo("b")
    old = seed(registry, a, "1.0.0", kind="oci", arches=("amd64",), seed=1711)
    seed(registry, a, "2.0.0", kind="oci", arches=("amd64",), seed=1712)
    dropped = seed(registry, b, "v1", kind="oci", arches=("amd64",), seed=1713)
    d = Dir(tmp_path, [source.host, mirror.host], mirror.host)
    first = d.run(d.manifest([{"source": f"{source.host}/{a}", "semver": ">=1"},
                              {"source": f"{source.host}/{b}:v1"}]))
    assert first.returncode == 0, first.stderr
    narrow = d.manifest([{"source": f"{source.host}/{a}", "semver": ">=1", "latest": 1}])

    applied = d.prune(narrow, "--apply")
    assert applied.returncode == 1, applied.stderr
    assert (f"{mirror.host} refuses to delete manifests" in applied.stdout
            and "storage.delete.enabled: true" in applied.stdout), applied.stdout
    assert "UNSUPPORTED" in applied.stdout
    assert present(mir, a, old.digest) and present(mir, b, dropped.digest)  # nothing deleted...
    assert crs_sources(d.out) == {f"{source.host}/{a}"}  # ...and the CRs no longer name b all the same
    report = json.loads((d.out / "report.json").read_text())
    assert sorted(i["tag"] for i in report["images"]) == ["2.0.0"]

    # The source cannot be listed now: carry-over keeps what the report holds and the manifest selects. 1.0.0 is
    # still on the mirror and passes semver, but pruned: the run must not keep it.
    source.rules = [Rule("503", kinds={"tags"})]
    later = d.run(narrow)
    assert later.returncode == 1
    assert [(i["tag"], i["onMirror"]) for i in later.report["images"] if i["tag"]] == [("2.0.0", True)]
    assert crs_sources(d.out) == {f"{source.host}/{a}"}
    # prune itself cannot tell what a source it cannot list selects: that source loses nothing
    blind = d.prune(narrow)
    assert blind.returncode == 1
    assert f"kept everything of {source.host}/{a}: its tags could not be listed" in blind.stderr
    assert blind.stdout.splitlines() == [f"would delete: {mirror.host}/{b}:v1 ({dropped.digest}): the manifest no "
                                         f"longer selects {source.host}/{b}"]
    # and the next prune still knows what it could not delete
    source.rules = []
    again = d.prune(narrow)
    assert f"would delete: {mirror.host}/{a}:1.0.0 ({old.digest})" in again.stdout
    assert f"would delete: {mirror.host}/{b}:v1 ({dropped.digest})" in again.stdout


def test_deletion_failing_half_way_leaves_the_crs_consistent_and_a_rerun_finishes(
        tmp_path, registry, make_registry, seed, unique_repo, proxies):
    mirror = proxies(make_registry("prune-faults"))
    mir = oracle_client(mirror.upstream)
    a, b = unique_repo("a"), unique_repo("b")
    kept = seed(registry, a, "1.0", kind="oci-index", seed=1721)
    two = seed(registry, a, "2.0", kind="oci-index", seed=1722)
    dropped = seed(registry, b, "v1", kind="oci-index", seed=1723)
    d = Dir(tmp_path, [registry.host, mirror.host], mirror.host)
    assert d.run(d.manifest([{"source": f"{registry.host}/{a}", "tags": ["1.0", "2.0"]},
                             {"source": f"{registry.host}/{b}:v1"}]), "--icsp").returncode == 0
    icsp = d.out / "cluster-resources" / "imagecontentsourcepolicy.yaml"
    assert f"{registry.host}/{b}" in icsp.read_text()
    narrow = d.manifest([{"source": f"{registry.host}/{a}", "tags": ["1.0"]}])
    last_child = two.children["linux/amd64"]  # deleted last: the index first, then its children in reverse
    mirror.rules = [Rule("500", kinds={"manifest-delete"}, ref=last_child)]

    failed = d.prune(narrow, "--apply")
    assert failed.returncode == 1
    assert f"failed: {mirror.host}/{a}:2.0" in failed.stdout and "run prune --apply again" in failed.stdout
    assert crs_sources(d.out) == {f"{registry.host}/{a}"}
    assert f"{registry.host}/{b}" not in icsp.read_text() and f"{registry.host}/{a}" in icsp.read_text()
    assert not present(mir, a, two.digest) and present(mir, a, last_child)
    assert all(not present(mir, b, m) for m in dropped.manifests)  # the other repository went on
    assert image_problems(mir, a, "1.0") == [] and all(present(mir, a, m) for m in kept.manifests)

    mirror.rules = []
    rerun = d.prune(narrow, "--apply")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"deleted: {mirror.host}/{a}@{last_child}" in rerun.stdout
    assert not present(mir, a, last_child)
    assert image_problems(mir, a, "1.0") == [] and tags_of(mir, a) == ["1.0"]


def test_killed_inside_a_deletion_the_crs_already_lack_the_entries(tmp_path, registry, make_registry, seed,
                                                                   unique_repo, proxies):
    mirror = proxies(make_registry("prune-kill"))
    mir = oracle_client(mirror.upstream)
    a, b = unique_repo("a"), unique_repo("b")
    kept = seed(registry, a, "1.0", kind="oci", arches=("amd64",), seed=1731)
    dropped = seed(registry, b, "v1", kind="oci-index", seed=1732)
    d = Dir(tmp_path, [registry.host, mirror.host], mirror.host)
    assert d.run(d.manifest([{"source": f"{registry.host}/{a}:1.0"},
                             {"source": f"{registry.host}/{b}:v1"}])).returncode == 0
    assert crs_sources(d.out) == {f"{registry.host}/{a}", f"{registry.host}/{b}"}
    narrow = d.manifest([{"source": f"{registry.host}/{a}:1.0"}])
    mirror.rules = [Rule("stall", kinds={"manifest-delete"}, seconds=30)]

    proc = subprocess.Popen([sys.executable, "-m", "mirrorsync", "prune", str(narrow), "--output-dir", str(d.out),
                             "--apply", "--allow-large-prune"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while mirror.count(kind="manifest-delete") == 0:
            assert proc.poll() is None and time.monotonic() < deadline, "prune never sent a DELETE"
            time.sleep(0.05)
        # the first DELETE is on its way: the CRs and the report already lack b, the pending work is recorded
        assert crs_sources(d.out) == {f"{registry.host}/{a}"}
        assert [i["tag"] for i in json.loads((d.out / "report.json").read_text())["images"]] == ["1.0"]
        pending = json.loads((d.out / "prune-report.json").read_text())
        assert pending["status"] == "Running"
        assert [(r["tag"], r["action"]) for r in pending["removals"]] == [("v1", "delete")]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert present(mir, b, dropped.digest)

    mirror.rules = []
    rerun = d.prune(narrow, "--apply")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert all(not present(mir, b, m) for m in dropped.manifests)
    assert image_problems(mir, a, "1.0") == [] and present(mir, a, kept.digest)
    assert crs_sources(d.out) == {f"{registry.host}/{a}"}


def test_sigterm_stops_after_the_deletion_in_flight_and_a_rerun_finishes(tmp_path, registry, make_registry, seed,
                                                                        unique_repo, proxies):
    mirror = proxies(make_registry("prune-term"))
    mir = oracle_client(mirror.upstream)
    a, b1, b2 = unique_repo("a"), unique_repo("b1"), unique_repo("b2")
    seed(registry, a, "1.0", kind="oci", arches=("amd64",), seed=1741)
    first, second = (seed(registry, r, "v1", kind="oci", arches=("amd64",), seed=1742 + i)
                     for i, r in enumerate((b1, b2)))
    d = Dir(tmp_path, [registry.host, mirror.host], mirror.host)
    assert d.run(d.manifest([{"source": f"{registry.host}/{r}:{t}"}
                             for r, t in ((a, "1.0"), (b1, "v1"), (b2, "v1"))])).returncode == 0
    narrow = d.manifest([{"source": f"{registry.host}/{a}:1.0"}])
    mirror.rules = [Rule("delay", kinds={"manifest-delete"}, seconds=2)]

    proc = subprocess.Popen([sys.executable, "-m", "mirrorsync", "prune", str(narrow), "--output-dir", str(d.out),
                             "--apply", "--allow-large-prune"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **FAST})
    try:
        deadline = time.monotonic() + 60
        while mirror.count(kind="manifest-delete") == 0:
            assert proc.poll() is None and time.monotonic() < deadline, "prune never sent a DELETE"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr
    assert "received SIGTERM" in stderr
    assert mirror.count(kind="manifest-delete") == 1  # the one in flight finished; no other started
    assert not present(mir, b1, first.digest) and present(mir, b2, second.digest)
    recorded = json.loads((d.out / "prune-report.json").read_text())
    assert recorded["status"] == "Interrupted"
    assert [(r["repository"].split("/", 1)[1], r["action"]) for r in recorded["removals"]] == [
        (b1, "deleted"), (b2, "delete")]
    assert f"delete: {mirror.host}/{b2}:v1" in stdout
    assert crs_sources(d.out) == {f"{registry.host}/{a}"}

    mirror.rules = []
    rerun = d.prune(narrow, "--apply")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout.splitlines() == [f"deleted: {mirror.host}/{b2}:v1 ({second.digest}): the manifest no "
                                         f"longer selects {registry.host}/{b2}"]
    assert not present(mir, b2, second.digest)


def test_a_token_auth_mirror_is_pruned_with_a_delete_token_and_no_secret_is_written(
        tmp_path, registry, token_registry, token_server, seed, unique_repo):
    # docker-registry asks a DELETE for the "delete" action, beyond the pull,push a copy needs
    a, b = unique_repo("a"), unique_repo("b")
    seed(registry, a, "1.0", kind="oci", arches=("amd64",), seed=1751)
    dropped = seed(registry, b, "v1", kind="oci", arches=("amd64",), seed=1752)
    authfile = write_auth_file(tmp_path / "auth.json", token_registry)
    d = Dir(tmp_path, [registry.host, token_registry.host, *realm_settings(token_registry)], token_registry.host)
    env = {**FAST, "REGISTRY_AUTH_FILE": str(authfile)}
    wide = d.manifest([{"source": f"{registry.host}/{a}:1.0"}, {"source": f"{registry.host}/{b}:v1"}])
    ran = mirrorsync("run", str(wide), "--output-dir", str(d.out), env=env)
    assert ran.returncode == 0, ran.stderr
    narrow = d.manifest([{"source": f"{registry.host}/{a}:1.0"}])
    seen = len(token_server.requests)

    applied = mirrorsync("prune", str(narrow), "--output-dir", str(d.out), "--apply", "--allow-large-prune", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    granted = [a for r in token_server.requests[seen:] for a in r.access if a["name"] == b]
    assert any("delete" in a["actions"] for a in granted), granted
    answer = httpx.get(token_server.auth_config.realm, auth=(token_registry.username, token_registry.password),
                       params={"service": token_server.auth_config.service, "scope": f"repository:{b}:pull"})
    with httpx.Client(base_url=token_registry.url) as mir:
        head = mir.head(f"/v2/{b}/manifests/{dropped.digest}",
                        headers={"Authorization": f"Bearer {answer.json()['token']}", "Accept": ACCEPT})
    assert head.status_code == 404
    written = applied.stdout + applied.stderr + "".join(p.read_text() for p in d.out.rglob("*.json"))
    assert token_registry.password not in written and "Bearer" not in written


def test_apply_refuses_while_a_run_holds_the_output_directory(tmp_path, registry, mirror_registry):
    d = Dir(tmp_path, [registry.host, mirror_registry.host], mirror_registry.host)
    manifest = d.manifest([{"source": f"{registry.host}/t/none:1"}])
    nothing = d.prune(manifest, "--apply")  # no report: nothing mirrorsync could have put anywhere
    assert nothing.returncode == 2 and "report.json: no report.json here" in nothing.stderr
    assert not d.out.exists()  # and nothing written, not even the lock
    d.out.mkdir()
    Report(manifest=str(manifest), engine="native", mirrors=[mirror_registry.host], startedAt="").save(
        str(d.out / "report.json"))
    with output_lock(d.out):
        held = d.prune(manifest, "--apply")
    assert held.returncode == 1
    assert "another mirrorsync run is using" in held.stderr and held.stdout == ""
    assert sorted(p.name for p in d.out.iterdir()) == [".mirrorsync.lock", "report.json"]


def test_an_images_signatures_and_referrers_go_with_it_and_stay_with_what_stays(tmp_path, registry, make_registry,
                                                                             seed, pusher_for, unique_repo):
    from support.cosign import Signer, push_referrer, sign

    mirror = make_registry("prune-companions")
    repo = unique_repo("signed")
    going = seed(registry, repo, "1.0", kind="oci-index", seed=1801)
    staying = seed(registry, repo, "2.0", kind="oci-index", seed=1802)
    pusher, signer = pusher_for(registry), Signer(tmp_path / "key")
    arm64 = going.children["linux/arm64"]
    made = {"going": [sign(pusher, signer, repo, going.digest), sign(pusher, signer, repo, arm64),
                      push_referrer(pusher, repo, {"mediaType": going.media_type, "digest": going.digest,
                                                   "size": going.size}, "application/spdx+json")],
            "staying": [sign(pusher, signer, repo, staying.digest),
                        push_referrer(pusher, repo, {"mediaType": staying.media_type, "digest": staying.digest,
                                                     "size": staying.size}, "application/spdx+json")]}
    d = Dir(tmp_path, [registry.host, mirror.host], f"{mirror.host}/p")
    entry = {"source": f"{registry.host}/{repo}", "signatures": True, "referrers": True}
    first = d.run(d.manifest([{**entry, "tags": ["1.0", "2.0"]}]))
    assert first.returncode == 0, first.stderr
    mir, mirrored = oracle_client(mirror), f"p/{repo}"
    fallbacks = {name: mir.head(f"/v2/{mirrored}/manifests/{img.digest.replace(':', '-')}",
                                headers={"Accept": ACCEPT}).headers["Docker-Content-Digest"]
                 for name, img in (("going", going), ("staying", staying))}
    assert all(present(mir, mirrored, p.digest) for ps in made.values() for p in ps)

    narrow = d.manifest([{**entry, "tags": ["2.0"]}])
    dry = d.prune(narrow)
    assert dry.returncode == 0, dry.stderr
    for p in made["going"]:
        assert f"{mirrored}@{p.digest}" in dry.stdout  # listed, still there
        assert present(mir, mirrored, p.digest)
    assert f"{mirrored}@{made['going'][0].digest} (signature of {going.digest})" in dry.stdout
    applied = d.prune(narrow, "--apply")
    assert applied.returncode == 0, applied.stderr
    assert not present(mir, mirrored, going.digest)
    for p in made["going"]:
        assert not present(mir, mirrored, p.digest), p
    assert not present(mir, mirrored, fallbacks["going"])
    # what stays keeps its signature, its referrer and its fallback index
    for p in made["staying"]:
        assert present(mir, mirrored, p.digest), p
    assert present(mir, mirrored, fallbacks["staying"]) and present(mir, mirrored, staying.digest)
    assert set(tags_of(mir, mirrored)) == {"2.0", made["staying"][0].tag, staying.digest.replace(":", "-")}


def test_a_mirror_typo_makes_apply_refuse_and_touch_nothing(tmp_path, registry, make_registry, seed, unique_repo):
    """A mirror renamed by a typo (``/p`` -> ``/pp``) would plan the deletion of everything on the real one and
    empty the CRs first: ``--apply`` refuses (exit 2), naming the mirror, with the mirror and the output
    directory unchanged; ``--allow-large-prune`` says it is meant."""
    mirror = make_registry("prune-typo")
    mir = oracle_client(mirror)
    a = unique_repo("a")
    one = seed(registry, a, "1.0", kind="oci", arches=("amd64",), seed=1811)
    d = Dir(tmp_path, [registry.host, mirror.host], f"{mirror.host}/p")
    first = d.run(d.manifest([{"source": f"{registry.host}/{a}", "tags": ["1.0"]}]))
    assert first.returncode == 0, first.stderr
    typo = write_manifest(tmp_path / "typo.yaml", mirrors=[f"{mirror.host}/pp"],
                          images=[{"source": f"{registry.host}/{a}", "tags": ["1.0"]}],
                          registries={h: {"tlsVerify": False} for h in (registry.host, mirror.host)})
    before = d.files()
    dry = d.prune(typo)
    assert dry.returncode == 0, dry.stderr
    assert f"mirror {mirror.host}/p is no longer in the manifest: 1 image(s) on it would be deleted" in dry.stderr
    refused = d.prune(typo, "--apply", guarded=True)
    assert refused.returncode == 2, refused.stderr
    assert "refusing to delete: mirror" in refused.stderr and "--allow-large-prune" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert d.files() == before and present(mir, f"p/{a}", one.digest)
    meant = d.prune(typo, "--apply", "--allow-large-prune", guarded=True)
    assert meant.returncode == 0, meant.stderr
    assert not present(mir, f"p/{a}", one.digest)


def test_a_dropped_source_or_a_large_share_is_refused_without_the_flag(tmp_path, registry, make_registry, seed,
                                                                       unique_repo):
    mirror = make_registry("prune-share")
    mir = oracle_client(mirror)
    a, b = unique_repo("a"), unique_repo("b")
    for i, tag in enumerate(("1", "2", "3")):
        seed(registry, a, tag, kind="oci", arches=("amd64",), seed=1820 + i)
    kept_b = seed(registry, b, "v1", kind="oci", arches=("amd64",), seed=1830)
    d = Dir(tmp_path, [registry.host, mirror.host], f"{mirror.host}/p")
    assert d.run(d.manifest([{"source": f"{registry.host}/{a}", "tags": ["1", "2", "3"]},
                             {"source": f"{registry.host}/{b}:v1"}])).returncode == 0
    # b dropped from the manifest altogether
    no_b = d.manifest([{"source": f"{registry.host}/{a}", "tags": ["1", "2", "3"]}])
    refused = d.prune(no_b, "--apply", guarded=True)
    assert refused.returncode == 2 and f"source {registry.host}/{b} is no longer in the manifest" in refused.stderr
    assert present(mir, f"p/{b}", kept_b.digest)
    # two of four images going is not more than the default share (50%): no guard
    one_tag = d.manifest([{"source": f"{registry.host}/{a}", "tags": ["1"]}, {"source": f"{registry.host}/{b}:v1"}])
    as_json = json.loads(d.prune(one_tag, "--output", "json").stdout)
    assert as_json["guards"] == [] and [r["action"] for r in as_json["removals"]] == ["delete", "delete"]
    # three of four is
    three = d.manifest([{"source": f"{registry.host}/{b}:v1"}, {"source": f"{registry.host}/{a}", "tags": ["9"]}])
    as_json = json.loads(d.prune(three, "--output", "json").stdout)
    assert as_json["guards"] == ["3 of the 4 images on the mirrors would be deleted, more than 50% (--max-share)"]
    assert d.prune(three, "--apply", guarded=True).returncode == 2
    assert d.prune(three, "--apply", "--max-share", "80", guarded=True).returncode == 0
    assert tags_of(mir, f"p/{a}") == [] and present(mir, f"p/{b}", kept_b.digest)


def test_protect_keeps_what_another_output_directory_on_the_same_mirror_still_needs(
        tmp_path, registry, make_registry, seed, unique_repo):
    """Two syncs mirror one digest-only image into the same mirror repository; the first stops selecting it. A
    prune of the first would delete it while the second's IDMS still sends pulls there: ``--protect`` with the
    second's report keeps it, and the dry run says why."""
    mirror = make_registry("prune-protect")
    mir = oracle_client(mirror)
    a, other = unique_repo("a"), unique_repo("other")
    shared = seed(registry, a, "1.0", kind="oci", arches=("amd64",), seed=1840)
    seed(registry, other, "x", kind="oci", arches=("amd64",), seed=1841)
    hosts = [registry.host, mirror.host]
    first, second = Dir(tmp_path / "one", hosts, f"{mirror.host}/p"), Dir(tmp_path / "two", hosts, f"{mirror.host}/p")
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    by_digest = {"source": f"{registry.host}/{a}", "digests": [shared.digest]}
    keep_other = {"source": f"{registry.host}/{other}:x"}
    assert first.run(first.manifest([by_digest, keep_other])).returncode == 0
    assert second.run(second.manifest([by_digest])).returncode == 0
    # the first now takes another image of the repository, not the shared digest
    newer = seed(registry, a, "2.0", kind="oci", arches=("amd64",), seed=1842)
    narrowed = first.manifest([keep_other, {"source": f"{registry.host}/{a}", "tags": ["2.0"]}])
    unprotected = json.loads(first.prune(narrowed, "--output", "json").stdout)
    assert [(r["digest"], r["action"]) for r in unprotected["removals"]] == [(shared.digest, "delete")]
    protected = first.prune(narrowed, "--protect", str(second.out / "report.json"))
    assert protected.returncode == 0, protected.stderr
    assert f"(--protect) holds {registry.host}/{a}@{shared.digest} there" in protected.stdout
    applied = first.prune(narrowed, "--apply", "--protect", str(second.out), guarded=True)
    assert applied.returncode == 0, applied.stderr
    assert present(mir, f"p/{a}", shared.digest)
    # a --protect that is no report is bad input, before anything is asked of a registry
    bad = first.prune(narrowed, "--protect", str(tmp_path / "nothing.json"))
    assert bad.returncode == 2 and "nothing.json" in bad.stderr
