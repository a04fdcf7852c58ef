"""Trust before copy for OpenShift releases, against the real registry: the release images are checked against the
``platform.signatures`` store (GPG "atomic container signature" files made with the real gpg from a test key) under
a ``signedBy`` requirement for the release repository's scope. A refused release is not copied, nor any of its
components; its record says ``signature-rejected`` with the reason, the run exits 1 and the CRs keep what an
earlier run mirrored."""

from __future__ import annotations

import json

import pytest
import yaml

from support.cli import mirrorsync
from support.gpg_signer import GPGSigner
from support.releases import build_channel
from test_releases import mirror, release_manifest, run  # noqa: F401 - the mirror fixture

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def signers(tmp_path_factory):
    made = (GPGSigner(tmp_path_factory.mktemp("gpg-release")), GPGSigner(tmp_path_factory.mktemp("gpg-other")))
    yield made
    for s in made:
        s.close()


def put_store(store, digest: str, signature: bytes) -> None:
    """``<store>/sha256=<hex>/signature-1``, as mirror.openshift.com serves release signatures."""
    directory = store / digest.replace(":", "=")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "signature-1").write_bytes(signature)


def release_policy(path, repository: str, signer: GPGSigner):
    """signedBy the signer's key for the release repository; its components' repositories (under the same prefix)
    accept anything: the release vouches for them."""
    path.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {
        repository: [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(signer.public_key)}],
        repository.rsplit("/", 1)[0]: [{"type": "insecureAcceptAnything"}]}}}))
    return path


def idms_sources(out) -> set[str]:
    docs = yaml.safe_load_all((out / "cluster-resources" / "imagedigestmirrorset.yaml").read_text())
    return {e["source"] for d in docs for e in d["spec"]["imageDigestMirrors"]}


@pytest.mark.parametrize("engine", ["native", "skopeo"])
def test_only_releases_the_store_signs_with_the_trusted_key_are_mirrored(engine, tmp_path, registry,
                                                                         mirror_registry, pusher_for, unique_repo,
                                                                         mirror, signers):
    trusted, other = signers
    channel = build_channel(pusher_for(registry), unique_repo("rel"))
    first, by_other, unsigned, wrong_digest = (channel.by_version(v) for v in ("4.15.0", "4.15.1", "4.15.2", "4.15.3"))
    store = tmp_path / "signatures"
    for rel, signer in ((first, trusted), (by_other, other)):
        put_store(store, rel.digest, signer.sign(rel.digest, f"{rel.repository}:{rel.tag}"))
    put_store(store, wrong_digest.digest, trusted.sign(first.digest, f"{first.repository}:{first.tag}"))
    policy = release_policy(tmp_path / "policy.json", first.repository, trusted)
    ns = unique_repo("m")

    def manifest(releases):
        return release_manifest(tmp_path, registry, f"{mirror_registry.host}/{ns}", mirror_registry,
                                releases=[f"{r.repository}:{r.tag}" for r in releases], signatures=str(store))

    out = tmp_path / "out"
    proc, report = run(manifest([first]), out, "--engine", engine, "--signature-policy", str(policy))
    assert proc.returncode == 0, proc.stderr
    [rec] = report["releases"]
    assert rec["status"] == "copied"
    top = next(i for i in report["images"] if i["source"] == first.repository)
    assert top["signature"]["accepted"] is True and top["signature"]["scope"] == first.repository
    before = idms_sources(out)
    assert first.repository in before

    proc, report = run(manifest([first, by_other, unsigned, wrong_digest]), out, "--engine", engine,
                       "--signature-policy", str(policy))
    assert proc.returncode == 1, proc.stderr
    records = {r["version"]: r for r in report["releases"]}
    assert records["4.15.0"]["status"] in ("copied", "up-to-date")
    for rel, reason in ((by_other, "wrong key"), (unsigned, "no signature"), (wrong_digest, "digest mismatch")):
        r = records[rel.version]
        assert r["status"] == "signature-rejected" and reason in r["error"], r
        image = next(i for i in report["images"] if i["source"] == rel.repository and i["digest"] == rel.digest)
        assert image["status"] == "signature-rejected" and image["signature"]["reason"] == reason
        # neither the release nor any of its components reached the mirror under its tags
        assert mirror.manifest_descriptor(f"{ns}/openshift/release-images", f"{rel.version}-x86_64") is None
        for name in rel.components:
            assert mirror.manifest_descriptor(f"{ns}/openshift/release", f"{rel.version}-x86_64-{name}") is None
        # cli is a new image in every release: not on the mirror at all
        assert mirror.manifest_descriptor(f"{ns}/openshift/release", rel.components["cli"].digest) is None
    assert mirror.manifest_descriptor(f"{ns}/openshift/release-images", "4.15.0-x86_64").digest == first.digest
    assert idms_sources(out) >= before  # the CRs keep what the earlier run mirrored

    # plan --verify-signatures decides the same, copying nothing: the refused release's components with it
    proc = mirrorsync("plan", str(manifest([by_other])), "--verify-signatures", "--signature-policy", str(policy),
                      "--output", "json")
    assert proc.returncode == 1, proc.stderr
    jobs = json.loads(proc.stdout)["jobs"]
    assert jobs and all(j["signature"]["accepted"] is False and j["signature"]["reason"] == "wrong key"
                        for j in jobs), jobs


def test_import_checks_the_release_again_from_the_signatures_the_export_carries(tmp_path, registry, mirror_registry,
                                                                              pusher_for, unique_repo, mirror,
                                                                              signers):
    trusted, other = signers
    channel = build_channel(pusher_for(registry), unique_repo("rel"))
    good, bad = channel.by_version("4.15.2"), channel.by_version("4.15.3")
    store = tmp_path / "signatures"
    put_store(store, good.digest, trusted.sign(good.digest, f"{good.repository}:{good.tag}"))
    put_store(store, bad.digest, other.sign(bad.digest, f"{bad.repository}:{bad.tag}"))
    policy = release_policy(tmp_path / "policy.json", good.repository, trusted)
    ns = unique_repo("m")
    manifest = release_manifest(tmp_path, registry, f"{mirror_registry.host}/{ns}", mirror_registry,
                                releases=[f"{r.repository}:{r.tag}" for r in (good, bad)], signatures=str(store))
    export_dir = tmp_path / "export"
    proc = mirrorsync("export", str(manifest), "--to", str(export_dir), "--signature-policy", str(policy))
    assert proc.returncode == 1, proc.stderr  # the other key's release is not exported
    # the dark site has no signature store: the import checks the signatures the export's report carries
    for d in store.iterdir():
        for f in d.iterdir():
            f.unlink()
    out = tmp_path / "out"
    proc = mirrorsync("import", str(export_dir), "--output-dir", str(out), "--signature-policy", str(policy))
    report = json.loads((out / "report.json").read_text())
    records = {r["version"]: r["status"] for r in report["releases"]}
    assert records.get("4.15.2") == "copied", (records, proc.stderr)
    assert mirror.manifest_descriptor(f"{ns}/openshift/release-images", "4.15.2-x86_64").digest == good.digest
    assert mirror.manifest_descriptor(f"{ns}/openshift/release-images", "4.15.3-x86_64") is None
    top = next(i for i in report["images"] if i["source"] == good.repository and i["digest"] == good.digest)
    assert top["signature"]["accepted"] is True and top["signature"]["scope"] == good.repository
