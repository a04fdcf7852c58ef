"""GPG signatures made with the real gpg, verified with gpgv (mirrorsync.trust.gpg)."""

from __future__ import annotations

import pytest

from support.gpg_signer import GPGSigner

from mirrorsync.trust import gpg
from mirrorsync.trust.sigstore import Refused

DIGEST = "sha256:" + "e" * 64


@pytest.fixture(scope="module")
def signers(tmp_path_factory):
    made = [GPGSigner(tmp_path_factory.mktemp("gpg-a")), GPGSigner(tmp_path_factory.mktemp("gpg-b")),
            GPGSigner(tmp_path_factory.mktemp("gpg-old"), expired=True)]
    yield made
    for s in made:
        s.close()


def reason(signatures, keys, identity_ok=lambda c: True, digest=DIGEST):
    try:
        gpg.accepted(signatures, keys, digest, identity_ok)
    except Refused as exc:
        return exc.reason
    return None


def test_good_signature_armored_and_binary_keys(signers):
    a = signers[0]
    sig = a.sign(DIGEST, "quay.io/ns/app:1")
    assert reason([sig], (a.public_key.read_bytes(),), lambda c: c == "quay.io/ns/app:1") is None
    assert reason([sig], (gpg.dearmor(a.public_key.read_bytes()),)) is None
    assert reason([sig], (signers[1].public_key.read_bytes(), a.public_key.read_bytes())) is None


def test_refusals(signers):
    a, b, old = signers
    key = (a.public_key.read_bytes(),)
    sig = a.sign(DIGEST, "quay.io/ns/app:1")
    assert reason([b.sign(DIGEST, "quay.io/ns/app:1")], key) == "wrong key"
    assert reason([sig], key, digest="sha256:" + "f" * 64) == "digest mismatch"
    assert reason([sig], key, lambda c: False) == "identity mismatch"
    assert reason([sig[:-8] + bytes(8)], key) in ("wrong key", "invalid signature")  # tampered
    assert reason([b"not a signature"], key) == "invalid signature"
    assert reason([], key) == "no signature"
    assert reason([old.sign(DIGEST, "quay.io/ns/app:1")], (old.public_key.read_bytes(),)) == "expired key"
    # one good signature among bad ones is enough
    assert reason([b.sign(DIGEST, "x"), sig], key) is None


def test_cosign_payload_is_not_an_atomic_signature(signers):
    a = signers[0]
    payload = (b'{"critical":{"identity":{"docker-reference":"q.io/a"},"image":{"docker-manifest-digest":"'
               + DIGEST.encode() + b'"},"type":"cosign container image signature"},"optional":null}')
    sig = a._gpg("--passphrase", "", "--sign", data=payload).stdout
    assert reason([sig], (a.public_key.read_bytes(),)) == "invalid signature"
