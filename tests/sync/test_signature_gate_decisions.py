"""The gate in front of an engine, on in-memory stores: where signatures are read from, what the engine is given,
what is remembered from an earlier run, and a whole with its parts (an OpenShift release and its components, checked
with real gpg signatures from a test key) (the matrix against a real registry: tests/integration)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mirrorsync.oci.content import OCI_INDEX, OCI_MANIFEST, parse_manifest, sha256_digest
from mirrorsync.registry.reference import parse
from mirrorsync.sync.copy_results import CopyResult
from mirrorsync.sync.manifest import ImageSpec
from mirrorsync.sync.plan import CopyJob
from mirrorsync.sync.signature_gate import COSIGN_SIGNATURE_ARTIFACT, SignatureChecker, SignatureGate, Whole
from mirrorsync.trust import policy as policy_mod
from mirrorsync.trust.sigstore import SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE
from support.gpg_signer import GPGSigner
from support.memstore import MemoryStore, make_image

REPO = "ns/app"
SOURCE = "src.example.com/ns/app"


class RecordingEngine:
    name = "recording"

    def __init__(self) -> None:
        self.jobs: list[CopyJob] = []

    def copy(self, job: CopyJob, progress=None) -> CopyResult:
        self.jobs.append(job)
        self.progress = progress
        return CopyResult(digest=job.ref)

    def close(self) -> None: ...


@pytest.fixture
def key():
    return ec.generate_private_key(ec.SECP256R1())


def write_policy(tmp_path, key) -> policy_mod.Policy:
    pub = tmp_path / "cosign.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {SOURCE: [
        {"type": "sigstoreSigned", "keyPath": str(pub), "signedIdentity": {"type": "matchRepository"}}]}}}))
    return policy_mod.load(str(path))


def push_referrer_signature(store: MemoryStore, digest: str, key) -> None:
    """cosign 2.x with OCI 1.1 referrers: the signature as a manifest whose subject is the image, listed in the
    fallback index ``sha256-<hex>`` (a registry without the referrers API)."""
    payload = json.dumps({"critical": {"identity": {"docker-reference": SOURCE},
                                       "image": {"docker-manifest-digest": digest},
                                       "type": "cosign container image signature"}, "optional": None}).encode()
    layer = store.add_blob(REPO, payload)
    config = store.add_blob(REPO, b"{}")
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": COSIGN_SIGNATURE_ARTIFACT,
                       "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config.digest,
                                  "size": config.size},
                       "layers": [{"mediaType": SIMPLESIGNING_MEDIA_TYPE, "digest": layer.digest, "size": layer.size,
                                   "annotations": {SIGNATURE_ANNOTATION: signature}}],
                       "subject": {"mediaType": OCI_INDEX, "digest": digest, "size": 1}}).encode()
    sig = parse_manifest(body, OCI_MANIFEST, sha256_digest(body))
    store.add_manifest(REPO, sig)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sig.digest, "size": len(body),
         "artifactType": COSIGN_SIGNATURE_ARTIFACT}]}).encode()
    store.add_manifest(REPO, parse_manifest(index, OCI_INDEX, sha256_digest(index)), digest.replace(":", "-"))


def job(ref: str = "latest") -> CopyJob:
    return CopyJob(ImageSpec(source=parse(SOURCE), index=0, destination=REPO), ref, ())


def test_a_referrer_signature_is_read_and_the_engine_copies_the_verified_digest(tmp_path, key):
    store = MemoryStore()
    image = make_image(store, REPO, "latest")
    push_referrer_signature(store, image.digest, key)
    engine = RecordingEngine()
    gate = SignatureGate(engine, SignatureChecker(write_policy(tmp_path, key), lambda j: (store, REPO)))
    result = gate.copy(job())
    assert result.signature["accepted"] is True and result.signature["scope"] == SOURCE
    # by the digest that was verified, still tagged as the source's tag on the mirrors
    assert [(j.ref, j.push_tag) for j in engine.jobs] == [(image.digest, "latest")]


def test_unsigned_is_refused_and_never_reaches_the_engine(tmp_path, key):
    store = MemoryStore()
    image = make_image(store, REPO, "latest")
    engine = RecordingEngine()
    result = SignatureGate(engine, SignatureChecker(write_policy(tmp_path, key), lambda j: (store, REPO))).copy(job())
    assert engine.jobs == [] and result.digest == image.digest
    assert result.signature["reason"] == "no signature" and "no signature" in result.error


def test_a_source_that_cannot_be_read_fails_the_image_without_a_decision(tmp_path, key):
    engine = RecordingEngine()
    result = SignatureGate(engine, SignatureChecker(write_policy(tmp_path, key),
                                                    lambda j: (MemoryStore(), REPO))).copy(job())
    assert engine.jobs == [] and result.signature is None
    assert result.error.startswith(f"checking the signatures of {SOURCE}:latest: ")


def test_remembered_acceptance_reads_no_signature(tmp_path, key):
    store = MemoryStore()
    image = make_image(store, REPO, "latest")  # unsigned: only memory can accept it
    policy = write_policy(tmp_path, key)
    earlier = {"accepted": True, "scope": SOURCE, "digest": image.digest, "policy": policy.fingerprint}
    checker = SignatureChecker(policy, lambda j: (store, REPO), remembered={(SOURCE, "latest"): earlier})
    digest, decision = checker.check(job())
    assert digest == image.digest and decision.accepted and store.reads == []
    for changed in ({"digest": "sha256:" + "0" * 64}, {"policy": "sha256:" + "1" * 64}, {"accepted": False}):
        checker.remembered = {(SOURCE, "latest"): {**earlier, **changed}}
        assert not checker.check(job())[1].accepted  # decided afresh: no signature


RELEASE = "quay.io/openshift-release-dev/ocp-release"
ART = "quay.io/openshift-release-dev/ocp-v4.0-art-dev"


@pytest.fixture(scope="module")
def signers(tmp_path_factory):
    made = [GPGSigner(tmp_path_factory.mktemp("gpg-trusted")), GPGSigner(tmp_path_factory.mktemp("gpg-other"))]
    yield made
    for s in made:
        s.close()


@pytest.fixture
def setup(tmp_path, signers):
    store = MemoryStore()
    release = make_image(store, "release", None, arches=("amd64",))
    part = make_image(store, "art", None, arches=("amd64",), shared=b"component")
    path = tmp_path / "policy.json"
    # the components' own scope accepts anything: what refuses them is their release
    path.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {
        RELEASE: [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(signers[0].public_key)}],
        ART: [{"type": "insecureAcceptAnything"}]}}}))
    policy = policy_mod.load(str(path))
    top = CopyJob(ImageSpec(source=parse(RELEASE), index=0, destination="r"), release.digest, (),
                  target_tag="4.15.1-x86_64")
    comp = CopyJob(ImageSpec(source=parse(ART), index=0, destination="c"), part.digest, (),
                   target_tag="4.15.1-x86_64-cli")
    repos = {RELEASE: "release", ART: "art"}
    checker = SignatureChecker(policy, lambda j: (store, repos[j.source.name]))
    return checker, top, comp, release.digest


def copied(checker, jobs):
    engine = RecordingEngine()
    gate = SignatureGate(engine, checker)
    results = [gate.copy(j) for j in jobs]
    return [j.ref for j in engine.jobs], results


def test_a_release_signed_in_the_store_is_accepted_and_its_components_copied(setup, signers):
    checker, top, comp, digest = setup
    sig = signers[0].sign(digest, f"{RELEASE}:4.15.1-x86_64")
    checker.add_wholes([Whole(top, (sig,), (comp,))])
    refs, results = copied(checker, [comp, top])
    assert refs == [comp.ref, top.ref]
    assert results[1].signature["accepted"] is True and results[1].signature["scope"] == RELEASE


@pytest.mark.parametrize("case,reason", [("unsigned", "no signature"), ("other key", "wrong key"),
                                         ("other digest", "digest mismatch"),
                                         ("other repository", "identity mismatch")])
def test_a_refused_release_copies_neither_it_nor_its_components(setup, signers, case, reason):
    checker, top, comp, digest = setup
    sigs = {"unsigned": (),
            "other key": (signers[1].sign(digest, f"{RELEASE}:4.15.1-x86_64"),),
            "other digest": (signers[0].sign("sha256:" + "0" * 64, f"{RELEASE}:4.15.1-x86_64"),),
            "other repository": (signers[0].sign(digest, "quay.io/someone/ocp-release:4.15.1-x86_64"),)}[case]
    checker.add_wholes([Whole(top, sigs, (comp,))])
    refs, (part, whole) = copied(checker, [comp, top])
    assert refs == []
    assert whole.signature["accepted"] is False and whole.signature["reason"] == reason
    assert part.signature["accepted"] is False and part.signature["reason"] == reason
    assert part.signature["scope"] == RELEASE and f"part of {RELEASE}@{digest}, which is refused" in part.error


def test_without_the_whole_known_the_release_has_no_signature_and_the_component_its_own_scope(setup):
    checker, top, comp, _ = setup
    refs, (part, whole) = copied(checker, [comp, top])
    assert refs == [comp.ref] and whole.signature["reason"] == "no signature"


def test_the_release_is_verified_once_for_all_its_parts(setup, signers, monkeypatch):
    checker, top, comp, digest = setup
    sig = signers[0].sign(digest, f"{RELEASE}:4.15.1-x86_64")
    checker.add_wholes([Whole(top, (sig,), (comp,))])
    calls = []
    real = checker._check
    monkeypatch.setattr(checker, "_check", lambda job, known=(): calls.append(job.ref) or real(job, known))
    copied(checker, [comp, top])
    assert calls == [top.ref, comp.ref]  # the release once (asked first by its component), the component itself


def test_in_a_layout_a_part_of_an_accepted_and_a_refused_whole_is_copied(setup, signers):
    """An export holds each image once (no mirror tag): a component two releases share goes when one is accepted."""
    from dataclasses import replace

    checker, top, comp, digest = setup
    refused = replace(top, target_tag="4.15.2-x86_64", ref="sha256:" + "1" * 64)
    checker.add_wholes([Whole(refused, (), (replace(comp, target_tag="4.15.2-x86_64-cli"),)),
                        Whole(top, (signers[0].sign(digest, f"{RELEASE}:4.15.1-x86_64"),), (comp,))])
    in_layout = replace(comp, target_tag=None)
    refs, (result,) = copied(checker, [in_layout])
    assert refs == [comp.ref] and result.signature["accepted"] is True
    refs, _ = copied(checker, [replace(comp, target_tag="4.15.2-x86_64-cli")])
    assert refs == []  # on a mirror, the refused release's own tag of it is not pushed


def test_the_gate_passes_the_job_runners_progress_to_the_engine(tmp_path, key):
    """The job runner calls ``engine.copy(job, progress)``: the gate, an engine, takes and passes it on."""
    store = MemoryStore()
    image = make_image(store, REPO, "latest")
    push_referrer_signature(store, image.digest, key)
    engine, progress = RecordingEngine(), object()
    SignatureGate(engine, SignatureChecker(write_policy(tmp_path, key), lambda j: (store, REPO))).copy(job(), progress)
    assert engine.progress is progress
