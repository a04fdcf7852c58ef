"""The gate in front of an engine, on in-memory stores: where signatures are read from, what the engine is given,
and what is remembered from an earlier run (the matrix against a real registry: tests/integration)."""

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
from mirrorsync.sync.signature_gate import COSIGN_SIGNATURE_ARTIFACT, SignatureChecker, SignatureGate
from mirrorsync.trust import policy as policy_mod
from mirrorsync.trust.sigstore import SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE
from support.memstore import MemoryStore, make_image

REPO = "ns/app"
SOURCE = "src.example.com/ns/app"


class RecordingEngine:
    name = "recording"

    def __init__(self) -> None:
        self.jobs: list[CopyJob] = []

    def copy(self, job: CopyJob) -> CopyResult:
        self.jobs.append(job)
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
