"""cosign signatures: real ones cosign and containers/image made (tests/data/trust/cosign, from containers/image
signature/fixtures), checked with the decisions containers/image's policy_eval_sigstore_test.go expects, and
signatures made here with every key type cosign signs with."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from mirrorsync.registry import reference
from mirrorsync.trust import sigstore
from mirrorsync.trust.identity import SignedIdentity
from mirrorsync.trust.sigstore import CosignSignature, Refused

FIXTURES = Path(__file__).parent.parent / "data" / "trust" / "cosign"
SAMPLE = "192.168.64.2:5000/cosign-signed-single-sample"


def key(name: str):
    return serialization.load_pem_public_key((FIXTURES / name).read_bytes())


def fixture_signature(path: Path) -> CosignSignature | None:
    """containers/image's on-disk form: ``\\0sigstore-json\\n`` and {mimeType, payload (base64), annotations}; None
    for an attachment that is not a signature (as signatures_in leaves it out)."""
    data = path.read_bytes()
    assert data.startswith(b"\x00sigstore-json\n")
    doc = json.loads(data[len(b"\x00sigstore-json\n"):])
    if doc["mimeType"] != sigstore.SIMPLESIGNING_MEDIA_TYPE:
        return None
    return CosignSignature(base64.b64decode(doc["payload"]), doc["annotations"])


def digest_of(directory: str) -> str:
    return "sha256:" + hashlib.sha256((FIXTURES / directory / "manifest.json").read_bytes()).hexdigest()


def decide(sig_path: Path, keys, image: str, digest: str, identity: SignedIdentity) -> str | None:
    """None when accepted, else the reason."""
    sig = fixture_signature(sig_path)
    img = reference.parse_normalized_named(image)
    try:
        sigstore.accepted([sig] if sig else [], keys, digest, lambda claimed: identity.accepts(img, claimed))
    except Refused as exc:
        return exc.reason
    return None


REPO = SignedIdentity("matchRepository")  # cosign signs the repository without a tag


@pytest.mark.parametrize("keys", [("cosign.pub",), ("cosign.pub", "cosign2.pub"), ("cosign2.pub", "cosign.pub")])
def test_cosign_made_signature_is_accepted(keys):
    got = decide(FIXTURES / "dir-img-cosign-valid" / "signature-1", tuple(key(k) for k in keys),
                 f"{SAMPLE}@{digest_of('dir-img-cosign-valid')}", digest_of("dir-img-cosign-valid"), REPO)
    assert got is None


def test_rekor_bundle_annotation_is_ignored_with_public_keys():
    image = "192.168.64.2:5000/cosign-signed/key-1"
    d = digest_of("dir-img-cosign-key-rekor-valid")
    assert decide(FIXTURES / "dir-img-cosign-key-rekor-valid" / "signature-1", (key("cosign2.pub"),),
                  f"{image}@{d}", d, REPO) is None


@pytest.mark.parametrize("sig,keys,image,directory,identity,reason", [
    ("dir-img-cosign-valid/signature-1", ("cosign2.pub",), SAMPLE, "dir-img-cosign-valid", REPO, "wrong key"),
    ("dir-img-cosign-valid/signature-1", ("some-rsa-key.pub",), SAMPLE, "dir-img-cosign-valid", REPO, "wrong key"),
    ("unknown-cosign-key.signature", ("cosign.pub",), SAMPLE, "dir-img-cosign-valid", REPO, "wrong key"),
    ("dir-img-cosign-valid/signature-1", ("cosign.pub",), SAMPLE, "dir-img-cosign-valid",
     SignedIdentity("exactReference", docker_reference="this/does-not:match"), "identity mismatch"),
    ("dir-img-cosign-modified-manifest/signature-1", ("cosign.pub",), SAMPLE, "dir-img-cosign-modified-manifest",
     REPO, "digest mismatch"),
    # cosign's name-only identity: refused by matchExact and by the default matchRepoDigestOrExact
    ("dir-img-cosign-valid/signature-1", ("cosign.pub",), SAMPLE + ":latest", "dir-img-cosign-valid",
     SignedIdentity("matchExact"), "identity mismatch"),
    ("dir-img-cosign-valid/signature-1", ("cosign.pub",), None, "dir-img-cosign-valid",
     SignedIdentity("matchRepoDigestOrExact"), "identity mismatch"),
    ("dir-img-cosign-valid-with-tag/signature-1", ("cosign.pub",), "192.168.64.2:5000/skopeo-signed:othertag",
     "dir-img-cosign-valid-with-tag", SignedIdentity("matchExact"), "identity mismatch"),
    ("dir-img-cosign-other-attachment/signature-1", ("cosign.pub",), SAMPLE, "dir-img-cosign-valid", REPO,
     "no signature"),
])
def test_refusals(sig, keys, image, directory, identity, reason):
    d = digest_of(directory) if (FIXTURES / directory / "manifest.json").exists() else digest_of("dir-img-cosign-valid")
    image = image or f"{SAMPLE}@{d}"
    assert decide(FIXTURES / sig, tuple(key(k) for k in keys), image, d, identity) == reason


def test_skopeo_made_signature_with_tag_under_match_exact():
    d = digest_of("dir-img-cosign-valid-with-tag")
    assert decide(FIXTURES / "dir-img-cosign-valid-with-tag" / "signature-1", (key("cosign.pub"),),
                  "192.168.64.2:5000/skopeo-signed:tag", d, SignedIdentity("matchExact")) is None


def test_signature_that_is_not_base64_or_does_not_verify():
    sig = fixture_signature(FIXTURES / "dir-img-cosign-valid" / "signature-1")
    d = digest_of("dir-img-cosign-valid")
    for annotation, reason in ((base64.b64encode(b"invalid signature").decode(), "wrong key"),
                               ("***", "invalid signature")):
        bad = CosignSignature(sig.payload, {sigstore.SIGNATURE_ANNOTATION: annotation})
        with pytest.raises(Refused) as info:
            sigstore.verify(bad, (key("cosign.pub"),), d, lambda c: True)
        assert info.value.reason == reason
    with pytest.raises(Refused) as info:
        sigstore.verify(CosignSignature(sig.payload, {}), (key("cosign.pub"),), d, lambda c: True)
    assert info.value.reason == "no signature"


def payload(digest: str, identity: str, **extra) -> bytes:
    doc = {"critical": {"identity": {"docker-reference": identity}, "image": {"docker-manifest-digest": digest},
                        "type": "cosign container image signature"}, "optional": None}
    doc.update(extra)
    return json.dumps(doc, separators=(",", ":")).encode()


SIGNERS = {
    "ecdsa-p256": (lambda: ec.generate_private_key(ec.SECP256R1()), lambda k, d: k.sign(d, ec.ECDSA(hashes.SHA256()))),
    # cosign (sigstore's LoadVerifier with containers/image's hard-coded SHA-256) hashes with SHA-256 on every curve
    "ecdsa-p384": (lambda: ec.generate_private_key(ec.SECP384R1()), lambda k, d: k.sign(d, ec.ECDSA(hashes.SHA256()))),
    "rsa-2048": (lambda: rsa.generate_private_key(65537, 2048),
                 lambda k, d: k.sign(d, padding.PKCS1v15(), hashes.SHA256())),
    "ed25519": (ed25519.Ed25519PrivateKey.generate, lambda k, d: k.sign(d)),
}


@pytest.mark.parametrize("kind", sorted(SIGNERS))
def test_every_cosign_key_type(kind):
    make, sign = SIGNERS[kind]
    private = make()
    d = "sha256:" + "c" * 64
    data = payload(d, "quay.io/ns/app")
    sig = CosignSignature(data, {sigstore.SIGNATURE_ANNOTATION: base64.b64encode(sign(private, data)).decode()})
    sigstore.verify(sig, (private.public_key(),), d, lambda c: c == "quay.io/ns/app")
    tampered = CosignSignature(data.replace(b"quay.io/ns/app", b"quay.io/ns/evil"), sig.annotations)
    with pytest.raises(Refused) as info:
        sigstore.verify(tampered, (private.public_key(),), d, lambda c: True)
    assert info.value.reason == "wrong key"


@pytest.mark.parametrize("data,words", [
    (payload("sha256:" + "c" * 64, "q.io/a", extra=1), "has fields"),
    (b"not json", "not JSON"),
    (payload("sha256:" + "c" * 64, "q.io/a").replace(b"cosign container image signature", b"other"),
     "unrecognized signature type"),
])
def test_payload_is_read_strictly_once_it_verifies(data, words):
    private = ec.generate_private_key(ec.SECP256R1())
    sig = CosignSignature(data, {sigstore.SIGNATURE_ANNOTATION: base64.b64encode(
        private.sign(data, ec.ECDSA(hashes.SHA256()))).decode()})
    with pytest.raises(Refused) as info:
        sigstore.verify(sig, (private.public_key(),), "sha256:" + "c" * 64, lambda c: True)
    assert info.value.reason == "invalid signature" and words in info.value.message


def test_of_several_signatures_one_is_enough_and_the_furthest_reason_is_given():
    private, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    d = "sha256:" + "c" * 64

    def signed(by, data):
        return CosignSignature(data, {sigstore.SIGNATURE_ANNOTATION: base64.b64encode(
            by.sign(data, ec.ECDSA(hashes.SHA256()))).decode()})

    wrong_key = signed(other, payload(d, "q.io/a"))
    wrong_digest = signed(private, payload("sha256:" + "d" * 64, "q.io/a"))
    good = signed(private, payload(d, "q.io/a"))
    keys = (private.public_key(),)
    sigstore.accepted([wrong_key, wrong_digest, good], keys, d, lambda c: True)
    with pytest.raises(Refused) as info:
        sigstore.accepted([wrong_key, wrong_digest], keys, d, lambda c: True)
    assert info.value.reason == "digest mismatch" and "none of 2 signatures" in info.value.message
