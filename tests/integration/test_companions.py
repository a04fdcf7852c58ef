"""``signatures: true`` and ``referrers: true`` end to end: cosign-format signatures, attestations, SBOMs and OCI
referrers pushed by the fixtures to the real docker-registry (2.8: no referrers API, so the fallback tag) travel
with the image, unchanged, and are read back with skopeo and with the fallback listing."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import pytest

from support.cli import Run, mirrorsync, registry_settings, run_images, write_manifest
from support.cosign import Signer, attach_sbom, attest, fallback_entries, push_referrer, sign

from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.referrers import list_referrers
from mirrorsync.registry.settings import RegistrySettings

pytestmark = pytest.mark.integration

SBOM_TYPE = "application/spdx+json"
VULN_TYPE = "application/vnd.example.vulnerability-report+json"


@pytest.fixture
def sync(tmp_path, registry, mirror_registry):
    def go(images, *, args=(), out=None) -> Run:
        return run_images(tmp_path, [registry, mirror_registry], f"{mirror_registry.host}/c", images, args=args,
                          out=out)

    return go


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    return Signer(tmp_path_factory.mktemp("cosign-key"))


def raw(skopeo, ref: str) -> bytes:
    return skopeo.run("inspect", "--raw", "--tls-verify=false", f"docker://{ref}").stdout


def test_signatures_attestations_sboms_and_referrers_travel_unchanged(sync, registry, mirror_registry, seed,
                                                                      pusher_for, signer, skopeo, tmp_path):
    img = seed(registry)  # an OCI index, amd64 + arm64
    repo, pusher = img.repository, pusher_for(registry)
    arm64 = img.children["linux/arm64"]
    index_desc = {"mediaType": img.media_type, "digest": img.digest, "size": img.size}
    made = [sign(pusher, signer, repo, img.digest), attest(pusher, signer, repo, img.digest),
            attach_sbom(pusher, repo, img.digest), sign(pusher, signer, repo, arm64)]
    sbom = push_referrer(pusher, repo, index_desc, SBOM_TYPE, content=b'{"spdxVersion":"SPDX-2.3"}')
    vuln = push_referrer(pusher, repo, index_desc, VULN_TYPE, content=b'{"findings":[]}')
    # a referrer of a child, and a signature (a referrer too) of the SBOM
    child_ref = push_referrer(pusher, repo, {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                             "digest": arm64, "size": 1}, SBOM_TYPE, content=b'{"arm64":1}')
    sbom_sig = push_referrer(pusher, repo, {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                            "digest": sbom.digest, "size": len(sbom.data)},
                             "application/vnd.dev.cosign.artifact.sig.v1+json", content=b'{"sig":1}')
    # The mirror's fallback index already lists a referrer another tool put there: it must stay.
    mirror_pusher = pusher_for(mirror_registry)
    mirrored_repo = f"c/{repo}"
    theirs = push_referrer(mirror_pusher, mirrored_repo, index_desc, "application/vnd.example.other",
                           content=b'{"other":1}')

    run = sync([{"source": f"{registry.host}/{repo}:latest", "signatures": True, "referrers": True}])
    assert run.returncode == 0, run.stderr
    rec = run.image(repo, "latest")
    assert rec["status"] == "copied"
    kinds = sorted((c["kind"], c["subject"]) for c in rec["companions"])
    assert kinds == sorted([("signature", img.digest), ("attestation", img.digest), ("sbom", img.digest),
                            ("signature", arm64), ("referrer", img.digest), ("referrer", img.digest),
                            ("referrer", arm64), ("referrer", sbom.digest)])

    mirror = f"{mirror_registry.host}/{mirrored_repo}"
    for pushed in made:  # by tag, byte for byte: the signature inside is the one made
        assert raw(skopeo, f"{mirror}:{pushed.tag}") == pushed.data
    layer = json.loads(made[0].data)["layers"][0]
    payload = pusher_for(mirror_registry)._client.get(
        f"{mirror_registry.url}/v2/{mirrored_repo}/blobs/{layer['digest']}").content
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    assert signer.verifies(payload, signature, tmp_path)  # the signature still verifies against the payload
    for pushed in (sbom, vuln, child_ref, sbom_sig):
        data = raw(skopeo, f"{mirror}@{pushed.digest}")
        assert "sha256:" + hashlib.sha256(data).hexdigest() == pushed.digest

    # the fallback listing on the mirror: theirs kept, ours added
    client = RegistryClient(mirror_registry.host, settings=RegistrySettings(tls_verify=False))
    try:
        listing = list_referrers(client, mirrored_repo, img.digest)
        assert not listing.via_api  # docker-registry 2.8
        assert [d["digest"] for d in listing.descriptors] == [theirs.digest, sbom.digest, vuln.digest]
        assert [d["artifactType"] for d in listing.descriptors[1:]] == [SBOM_TYPE, VULN_TYPE]
        assert [d["digest"] for d in list_referrers(client, mirrored_repo, arm64).descriptors] == [child_ref.digest]
    finally:
        client.close()
    # where the mirror had none, the source's fallback index is copied as it is
    child_tag = arm64.replace(":", "-")
    assert raw(skopeo, f"{mirror}:{child_tag}") == raw(skopeo, f"{registry.host}/{repo}:{child_tag}")

    again = sync([{"source": f"{registry.host}/{repo}:latest", "signatures": True, "referrers": True}])
    assert again.returncode == 0, again.stderr
    rec = again.image(repo, "latest")
    assert rec["status"] == "up-to-date"
    assert rec["destinations"][0]["manifestsPushed"] == 0 and again.report["totals"]["bytesSent"] == 0
    assert len(rec["companions"]) == 8

    # verify checks what travelled too: every companion, then one deleted from the mirror is named
    checked = mirrorsync("verify", str(again.output_dir))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    deleted = httpx.delete(f"{mirror_registry.url}/v2/{mirrored_repo}/manifests/{made[0].digest}")
    assert deleted.status_code == 202, deleted.text
    checked = mirrorsync("verify", str(again.output_dir))
    assert checked.returncode == 1
    assert f"{mirrored_repo}:{made[0].tag}" in checked.stdout + checked.stderr


def test_referrers_filtered_by_artifact_type_and_nothing_without_the_keys(sync, registry, mirror_registry, seed,
                                                                         pusher_for, signer, skopeo, unique_repo,
                                                                         tmp_path):
    img = seed(registry, kind="oci", arches=("amd64",))
    pusher = pusher_for(registry)
    desc = {"mediaType": img.media_type, "digest": img.digest, "size": img.size}
    sbom = push_referrer(pusher, img.repository, desc, SBOM_TYPE)
    vuln = push_referrer(pusher, img.repository, desc, VULN_TYPE)
    sig = sign(pusher, signer, img.repository, img.digest)
    mirror = f"{mirror_registry.host}/c/{img.repository}"

    plain = sync([{"source": f"{registry.host}/{img.repository}:latest"}], out=tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    assert "companions" not in plain.image(img.repository)  # not asked for: the report is as it was
    with pytest.raises(AssertionError):
        raw(skopeo, f"{mirror}:{sig.tag}")

    run = sync([{"source": f"{registry.host}/{img.repository}:latest", "referrers": {"artifactTypes": [SBOM_TYPE]}}])
    assert run.returncode == 0, run.stderr
    assert [(c["kind"], c["digest"], c.get("artifactType")) for c in run.image(img.repository)["companions"]] == [
        ("referrer", sbom.digest, SBOM_TYPE)]
    assert "sha256:" + hashlib.sha256(raw(skopeo, f"{mirror}@{sbom.digest}")).hexdigest() == sbom.digest
    with pytest.raises(AssertionError):
        raw(skopeo, f"{mirror}@{vuln.digest}")
    with pytest.raises(AssertionError):
        raw(skopeo, f"{mirror}:{sig.tag}")  # signatures not asked for
    mirror_pusher = pusher_for(mirror_registry)
    assert [d["digest"] for d in fallback_entries(mirror_pusher, f"c/{img.repository}", img.digest)] == [sbom.digest]


def test_the_skopeo_engine_refuses_companions_as_bad_input(sync, registry, seed):
    img = seed(registry, kind="oci", arches=("amd64",))
    run = sync([{"source": f"{registry.host}/{img.repository}:latest", "signatures": True}],
               args=("--engine", "skopeo"))
    assert run.returncode == 2
    assert "images[0].signatures: signatures need engine native" in run.stderr
    assert not (run.output_dir / "report.json").exists()


def test_companions_cross_the_air_gap(make_registry, seed, pusher_for, signer, skopeo, tmp_path):
    source, far = make_registry("source"), make_registry("far")
    img = seed(source)
    pusher = pusher_for(source)
    sig = sign(pusher, signer, img.repository, img.digest)
    child_sig = sign(pusher, signer, img.repository, img.children["linux/amd64"])
    sbom = push_referrer(pusher, img.repository, {"mediaType": img.media_type, "digest": img.digest,
                                                  "size": img.size}, SBOM_TYPE)
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{far.host}/gap"],
                              registries={r.host: registry_settings(r) for r in (source, far)},
                              images=[{"source": f"{source.host}/{img.repository}:latest", "signatures": True,
                                       "referrers": True}], options={"retries": 1})
    exported = mirrorsync("export", str(manifest), "--to", str(tmp_path / "export"))
    assert exported.returncode == 0, exported.stderr
    source.stop()
    imported = mirrorsync("import", str(tmp_path / "export"), "--output-dir", str(tmp_path / "out"))
    assert imported.returncode == 0, imported.stderr
    rec = json.loads((tmp_path / "out" / "report.json").read_text())["images"][0]
    assert sorted(c["digest"] for c in rec["companions"]) == sorted([sig.digest, child_sig.digest, sbom.digest])
    mirror = f"{far.host}/gap/{img.repository}"
    assert raw(skopeo, f"{mirror}:{sig.tag}") == sig.data
    assert raw(skopeo, f"{mirror}:{child_sig.tag}") == child_sig.data
    assert raw(skopeo, f"{mirror}@{sbom.digest}") == sbom.data
    assert [d["digest"] for d in fallback_entries(pusher_for(far), f"gap/{img.repository}", img.digest)] == [
        sbom.digest]
