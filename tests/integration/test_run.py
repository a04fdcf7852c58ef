"""``mirrorsync run`` end to end against the real docker-registry, checked with the real skopeo."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from support.cli import (manifest_runner, mirrorsync, realm_settings, registry_settings, write_auth_file, write_manifest,
                         Run)
from support.crds import validate
from support.fault_proxy import Rule

from mirrorsync.oci.content import ACCEPT

pytestmark = pytest.mark.integration


@pytest.fixture
def sync(tmp_path):
    """``sync(mirrors=[...], images=[...], registries={...}, args=[...])`` -> Run of ``mirrorsync run``."""
    return manifest_runner(tmp_path)


def plain(*registries) -> dict:
    return {r.host: registry_settings(r) for r in registries} | realm_settings(*registries)


def test_multiarch_oci_index_docker_list_and_single_images(sync, registry, mirror_registry, seed,
                                                          skopeo_inspect_digest, unique_repo):
    images = {kind: seed(registry, unique_repo(kind), "v1", kind=kind) for kind in ("oci-index", "docker-list",
                                                                                  "oci", "docker")}
    run = sync(mirrors=[f"{mirror_registry.host}/m"], registries=plain(registry, mirror_registry),
               images=[{"source": f"{registry.host}/{img.repository}:v1"} for img in images.values()])
    assert run.returncode == 0, run.stderr
    for kind, img in images.items():
        mirrored = f"{mirror_registry.host}/m/{img.repository}"
        assert skopeo_inspect_digest(f"{mirrored}:v1", tls_verify=False) == img.digest, kind
        for child in img.children.values():
            assert skopeo_inspect_digest(f"{mirrored}@{child}", tls_verify=False) == child
        rec = run.image(img.repository, "v1")
        assert rec["status"] == "copied" and rec["digest"] == img.digest
        assert sorted(rec["children"]) == sorted(img.children.values())
        assert rec["destinations"][0]["repository"] == mirrored
    assert run.report["status"] == "Succeeded"

    idms = run.cr("imagedigestmirrorset.yaml")
    itms = run.cr("imagetagmirrorset.yaml")
    for obj in idms + itms:
        validate(obj)
    entries = {e["source"]: e["mirrors"] for obj in idms for e in obj["spec"]["imageDigestMirrors"]}
    for img in images.values():
        assert entries[f"{registry.host}/{img.repository}"] == [f"{mirror_registry.host}/m/{img.repository}"]
    tag_entries = {e["source"] for obj in itms for e in obj["spec"]["imageTagMirrors"]}
    assert tag_entries == set(entries)

    # A second run copies nothing and writes the same CR bytes.
    before = {p.name: p.read_bytes() for p in run.crs_dir.iterdir()}
    again = sync(mirrors=[f"{mirror_registry.host}/m"], registries=plain(registry, mirror_registry),
                 images=[{"source": f"{registry.host}/{img.repository}:v1"} for img in images.values()])
    assert again.returncode == 0, again.stderr
    assert {i["status"] for i in again.report["images"]} == {"up-to-date"}
    assert again.report["totals"]["bytesSent"] == 0 and again.report["totals"]["bytesRead"] == 0
    assert {p.name: p.read_bytes() for p in run.crs_dir.iterdir()} == before


def test_a_backtracking_include_pattern_over_a_hostile_tag_list_plans_at_once(sync, registry, mirror_registry, seed,
                                                                             unique_repo, skopeo):
    # issue 27, item 6: under Python's re this pattern over this tag took past 60 s and ignored SIGTERM; RE2 (Go's
    # engine, as skopeo's and oc-mirror's filters are) decides it in linear time, with the same answer Go gives
    repo = unique_repo("redos")
    hostile = "1" * 34 + "x"
    for i, tag in enumerate(["1.2.3", hostile, "4.5"]):
        seed(registry, repo, tag, kind="oci", arches=("amd64",), seed=70 + i)
    manifest = dict(mirrors=[mirror_registry.host], registries=plain(registry, mirror_registry),
                    images=[{"source": f"{registry.host}/{repo}", "include": [r"^(\d+\.?)+$"]}])
    plan_path = write_manifest(Path(skopeo.auth_file).parent / f"{repo.replace('/', '-')}.yaml", **manifest)
    planned = mirrorsync("plan", str(plan_path), "--output", "json", timeout=60)
    assert planned.returncode == 0, planned.stderr
    assert sorted(j["tag"] for j in json.loads(planned.stdout)["jobs"]) == ["1.2.3", "4.5"]
    run = sync(**manifest)
    assert run.returncode == 0, run.stderr
    tags = json.loads(skopeo.run("list-tags", "--tls-verify=false", f"docker://{mirror_registry.host}/{repo}").stdout)
    assert sorted(tags["Tags"]) == ["1.2.3", "4.5"]


def test_tag_regex_and_digest_selection(sync, registry, mirror_registry, seed, unique_repo, skopeo):
    repo = unique_repo("sel")
    pushed = {t: seed(registry, repo, t, kind="oci", arches=("amd64",), seed=i)
              for i, t in enumerate(["v1.0", "v1.1", "v1.2-rc", "v2.0"])}
    untagged = seed(registry, repo, None, kind="oci", arches=("amd64",), seed=99)
    images = [{"source": f"{registry.host}/{repo}", "include": [r"^v1\."], "exclude": ["-rc"],
               "digests": [untagged.digest]}]
    manifest = dict(mirrors=[mirror_registry.host], registries=plain(registry, mirror_registry), images=images)

    plan_path = write_manifest(Path(skopeo.auth_file).parent / f"{repo.replace('/', '-')}.yaml", **manifest)
    planned = mirrorsync("plan", str(plan_path), "--output", "json")
    assert planned.returncode == 0, planned.stderr
    jobs = json.loads(planned.stdout)["jobs"]
    assert [(j["tag"], j["digest"]) for j in jobs] == [("v1.0", None), ("v1.1", None), (None, untagged.digest)]

    run = sync(**manifest)
    assert run.returncode == 0, run.stderr
    tags = json.loads(skopeo.run("list-tags", "--tls-verify=false", f"docker://{mirror_registry.host}/{repo}").stdout)
    assert sorted(tags["Tags"]) == ["v1.0", "v1.1"]
    assert run.image(repo, "v1.1")["digest"] == pushed["v1.1"].digest
    digest_only = [i for i in run.report["images"] if i["tag"] is None]
    assert [i["digest"] for i in digest_only] == [untagged.digest]
    raw = skopeo.inspect_digest(f"{mirror_registry.host}/{repo}@{untagged.digest}", tls_verify=False)
    assert raw == untagged.digest


def test_layers_shared_across_repositories_are_sent_once(sync, registry, mirror_registry, seed, unique_repo):
    repos = [unique_repo(f"shared{i}") for i in range(3)]
    for i, repo in enumerate(repos):
        seed(registry, repo, "v1", kind="oci", arches=("amd64",), layers=2, layer_size=200_000, seed=7)
    run = sync(mirrors=[f"{mirror_registry.host}/s"], registries=plain(registry, mirror_registry),
               images=[{"source": f"{registry.host}/{r}:v1"} for r in repos])
    assert run.returncode == 0, run.stderr
    dests = [i["destinations"][0] for i in run.report["images"]]
    # the shared base layer is uploaded by one image and mounted (or found) by the others
    assert sum(d["blobsMounted"] + d["blobsSkipped"] for d in dests) >= 2
    assert sum(d["blobsSent"] for d in dests) <= 3 * 3 - 2


def test_artifact_with_subject_is_copied(sync, registry, mirror_registry, seed, unique_repo, skopeo_inspect_digest):
    repo = unique_repo("art")
    artifact = seed(registry, repo, "v1", kind="oci", arches=("amd64",), artifact=True)
    run = sync(mirrors=[mirror_registry.host], registries=plain(registry, mirror_registry),
               images=[{"source": f"{registry.host}/{repo}", "tags": ["v1"], "digests": [artifact.digest]}])
    assert run.returncode == 0, run.stderr
    assert skopeo_inspect_digest(f"{mirror_registry.host}/{repo}@{artifact.digest}", tls_verify=False) == artifact.digest


def test_basic_auth_both_sides_from_authfile(sync, htpasswd_registry, make_registry, seed, unique_repo, tmp_path,
                                             skopeo_inspect_digest, skopeo_opts):
    mirror = make_registry("mirror-basic", htpasswd=("mirroruser", "mirror-s3cret"))
    mirror.username, mirror.password = "mirroruser", "mirror-s3cret"
    img = seed(htpasswd_registry, unique_repo("basic"), "v1")
    auth = write_auth_file(tmp_path / "auth.json", htpasswd_registry, mirror)
    run = sync(mirrors=[mirror.host], registries=plain(htpasswd_registry, mirror),
               images=[{"source": f"{htpasswd_registry.host}/{img.repository}:v1"}], args=("--authfile", str(auth)))
    assert run.returncode == 0, run.stderr
    assert skopeo_inspect_digest(f"{mirror.host}/{img.repository}:v1", **skopeo_opts(mirror)) == img.digest
    for text in (run.stderr, run.stdout, (run.output_dir / "report.json").read_text()):
        assert "mirror-s3cret" not in text and htpasswd_registry.password not in text

    # without credentials: a clear authentication failure of the mirror before anything is copied, exit 1
    denied = sync(mirrors=[mirror.host], registries=plain(htpasswd_registry, mirror),
                  images=[{"source": f"{htpasswd_registry.host}/{img.repository}:v1"}], output_dir=tmp_path / "o2",
                  env={"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)})
    assert denied.returncode == 1
    assert not (denied.output_dir / "report.json").exists()
    assert "401" in denied.stderr and f"no credentials: no entry for {mirror.host} in " in denied.stderr


def test_token_auth(sync, token_registry, mirror_registry, seed, unique_repo, tmp_path, skopeo_inspect_digest,
                    token_server):
    img = seed(token_registry, unique_repo("tok"), "v1")
    auth = write_auth_file(tmp_path / "auth.json", token_registry)
    issued = token_server.issued
    run = sync(mirrors=[f"{mirror_registry.host}/tok"], registries=plain(token_registry, mirror_registry),
               images=[{"source": f"{token_registry.host}/{img.repository}:v1"}], args=("--authfile", str(auth)))
    assert run.returncode == 0, run.stderr
    assert token_server.issued > issued
    assert skopeo_inspect_digest(f"{mirror_registry.host}/tok/{img.repository}:v1", tls_verify=False) == img.digest


def test_tls_with_test_ca(sync, tls_registry, mirror_registry, seed, unique_repo, skopeo_inspect_digest, tmp_path):
    img = seed(tls_registry, unique_repo("tls"), "v1")
    run = sync(mirrors=[mirror_registry.host], registries=plain(tls_registry, mirror_registry),
               images=[{"source": f"{tls_registry.host}/{img.repository}:v1"}])
    assert run.returncode == 0, run.stderr
    assert skopeo_inspect_digest(f"{mirror_registry.host}/{img.repository}:v1", tls_verify=False) == img.digest

    # verification stays on: without the CA the TLS source fails, it is not silently trusted
    untrusted = sync(mirrors=[mirror_registry.host], registries={mirror_registry.host: {"tlsVerify": False}},
                     images=[{"source": f"{tls_registry.host}/{img.repository}:v1"}], output_dir=tmp_path / "o2")
    assert untrusted.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.report["images"][0]["error"]


def test_source_down_fails_that_image_only(sync, registry, mirror_registry, seed, unique_repo, closed_port,
                                           skopeo_inspect_digest):
    good = seed(registry, unique_repo("up"), "v1")
    down = f"127.0.0.1:{closed_port}/gone/app"
    run = sync(mirrors=[mirror_registry.host],
               registries={**plain(registry, mirror_registry), f"127.0.0.1:{closed_port}": {"tlsVerify": False}},
               images=[{"source": f"{down}:v1"}, {"source": f"{registry.host}/{good.repository}:v1"},
                       {"source": f"127.0.0.1:{closed_port}/gone/other", "allTags": True}])
    assert run.returncode == 1
    assert run.report["status"] == "PartiallyFailed"
    failed = [i for i in run.report["images"] if i["status"] == "failed"]
    assert {i["source"] for i in failed} == {down, f"127.0.0.1:{closed_port}/gone/other"}
    assert all(i["error"] and f"cannot connect to 127.0.0.1:{closed_port}" in i["error"] for i in failed), failed
    assert skopeo_inspect_digest(f"{mirror_registry.host}/{good.repository}:v1", tls_verify=False) == good.digest
    sources = {e["source"] for obj in run.cr("imagedigestmirrorset.yaml") for e in obj["spec"]["imageDigestMirrors"]}
    assert sources == {f"{registry.host}/{good.repository}"}
    assert "failed" in run.stderr


def test_mirror_failing_its_copies_keeps_the_other_mirror_and_only_it_in_crs(sync, registry, mirror_registry, seed,
                                                                             unique_repo, proxies):
    """A mirror that answers the preflight, then resets every other request (a mirror down for good fails the
    run before anything is copied: test_preflight.py)."""
    img = seed(registry, unique_repo("twomirrors"), "v1")
    down = proxies(mirror_registry, Rule("reset", kinds=["manifest-head", "manifest-put", "blob-head",
                                                         "upload-start", "manifest-get"])).host
    run = sync(mirrors=[f"{down}/first", f"{mirror_registry.host}/second"],
               registries={**plain(registry, mirror_registry), down: {"tlsVerify": False}},
               images=[{"source": f"{registry.host}/{img.repository}:v1"}])
    assert run.returncode == 1
    rec = run.image(img.repository)
    assert rec["status"] == "partial"
    assert [d["status"] for d in rec["destinations"]] == ["failed", "copied"]
    entries = [e for obj in run.cr("imagedigestmirrorset.yaml") for e in obj["spec"]["imageDigestMirrors"]]
    assert entries == [{"source": f"{registry.host}/{img.repository}",
                        "mirrors": [f"{mirror_registry.host}/second/{img.repository}"]}]


@pytest.mark.parametrize("body,needle", [
    ("images:\n  - source: quay.io/a\n    tagz: [v1]\n", ":7: images[0].tagz: unknown field"),
    ("images:\n  - source: 'quay.io/UPPER'\n    tags: [v1]\n", ":6: images[0].source: invalid reference"),
    ("images:\n  - source: quay.io/a\n    include: ['[']\n", ":7: images[0].include[0]: invalid regular expression"),
])
def test_bad_manifest_exits_2_and_writes_nothing(tmp_path, body, needle):
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [127.0.0.1:1/m]\n"
                    "# a comment line\n" + body)
    out = tmp_path / "out"
    proc = mirrorsync("run", str(path), "--output-dir", str(out))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}{needle}"), proc.stderr
    assert not out.exists()


def test_generate_rebuilds_the_same_crs(sync, registry, mirror_registry, seed, unique_repo, tmp_path):
    img = seed(registry, unique_repo("gen"), "v1")
    run = sync(mirrors=[mirror_registry.host], registries=plain(registry, mirror_registry),
               images=[{"source": f"{registry.host}/{img.repository}:v1"}])
    assert run.returncode == 0, run.stderr
    regen = tmp_path / "regen"
    proc = mirrorsync("generate", str(run.output_dir / "report.json"), "--output-dir", str(regen))
    assert proc.returncode == 0, proc.stderr
    for name in ("imagedigestmirrorset.yaml", "imagetagmirrorset.yaml", "Kustomization"):
        assert (regen / "cluster-resources" / name).read_bytes() == (run.crs_dir / name).read_bytes()


def test_icsp_with_never_contact_source_is_refused_before_copying(tmp_path, registry, mirror_registry, seed,
                                                                   unique_repo):
    img = seed(registry, unique_repo("icspnever"), "v1")
    path = tmp_path / "m.yaml"
    path.write_text("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\n"
                    f"mirrors: ['{mirror_registry.host}/m']\n"
                    f"registries: {{'{registry.host}': {{tlsVerify: false}}, '{mirror_registry.host}': {{tlsVerify: false}}}}\n"
                    "images:\n"
                    f"  - source: {registry.host}/{img.repository}\n"
                    "    tags: [v1]\n"
                    "    mirrorSourcePolicy: NeverContactSource\n")
    out = tmp_path / "out"
    proc = mirrorsync("run", str(path), "--output-dir", str(out), "--icsp")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}:8: images[0].mirrorSourcePolicy: "), proc.stderr
    assert not out.exists()
    with httpx.Client() as client:  # nothing reached the mirror
        r = client.head(f"http://{mirror_registry.host}/v2/m/{img.repository}/manifests/v1",
                        headers={"Accept": ACCEPT})
    assert r.status_code == 404
    # without --icsp the same manifest syncs
    assert mirrorsync("run", str(path), "--output-dir", str(out)).returncode == 0


@pytest.mark.parametrize("content", [None, '{"auths": {"x": '])
def test_unusable_auth_file_exits_2_before_copying(tmp_path, registry, mirror_registry, seed, unique_repo, content):
    img = seed(registry, unique_repo("badauth"), "v1")
    path = tmp_path / "m.yaml"
    path.write_text("apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\n"
                    f"mirrors: ['{mirror_registry.host}/m']\n"
                    f"registries: {{'{registry.host}': {{tlsVerify: false}}, '{mirror_registry.host}': {{tlsVerify: false}}}}\n"
                    f"images:\n  - source: {registry.host}/{img.repository}\n    tags: [v1]\n")
    authfile = tmp_path / "auth.json"
    if content is not None:
        authfile.write_text(content)
    out = tmp_path / "out"
    proc = mirrorsync("run", str(path), "--output-dir", str(out), "--authfile", str(authfile))
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors and errors[0].startswith(f"error: {authfile}"), proc.stderr
    assert not out.exists()
    with httpx.Client() as client:
        r = client.head(f"http://{mirror_registry.host}/v2/m/{img.repository}/manifests/v1",
                        headers={"Accept": ACCEPT})
    assert r.status_code == 404
