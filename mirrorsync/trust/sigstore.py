"""cosign ("sigstore") signatures with public keys, verified as containers/image verifies them
(signature/internal/sigstore_payload.go, signature/policy_eval_sigstore.go).

A signature is a simple-signing payload (a layer of media type ``application/vnd.dev.cosign.simplesigning.v1+json``
in the ``sha256-<hex>.sig`` manifest) and, in that layer's annotation ``dev.cosignproject.cosign/signature``, the
base64 signature of the payload's exact bytes: ECDSA (ASN.1 DER) or RSA PKCS#1 v1.5 over SHA-256, or Ed25519.
Only once the bytes verify with a trusted key is the payload read: exactly the fields cosign writes
(``critical.type`` "cosign container image signature", ``critical.image.docker-manifest-digest``,
``critical.identity.docker-reference``), the digest compared with the one being copied and the identity given to the
requirement's ``signedIdentity``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

SIMPLESIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_TYPE = "cosign container image signature"

# why an image was refused: the report's words
NO_SIGNATURE = "no signature"
WRONG_KEY = "wrong key"
DIGEST_MISMATCH = "digest mismatch"
IDENTITY_MISMATCH = "identity mismatch"
INVALID_SIGNATURE = "invalid signature"
EXPIRED_KEY = "expired key"  # GPG: made by a key that has expired or been revoked
POLICY_REJECT = "policy reject"
# most telling first: of several signatures refused, the report names the reason of the one that got furthest
_FURTHEST = (IDENTITY_MISMATCH, DIGEST_MISMATCH, INVALID_SIGNATURE, EXPIRED_KEY, WRONG_KEY)


@dataclass(frozen=True)
class CosignSignature:
    """One signature as its source stores it: the payload's bytes and the layer's annotations (untrusted)."""

    payload: bytes
    annotations: dict[str, str]


class Refused(Exception):
    """A signature that is not accepted, with the reason (one of the words above) and what was wrong."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


def signatures_in(manifest: dict, read_layer: Callable[[dict], bytes]) -> list[CosignSignature]:
    """The signatures of a ``.sig`` manifest (its simple-signing layers; ``read_layer(descriptor)`` gives the
    bytes of one, checked against its digest)."""
    out = []
    for layer in manifest.get("layers") or []:
        if isinstance(layer, dict) and layer.get("mediaType") == SIMPLESIGNING_MEDIA_TYPE:
            annotations = layer.get("annotations") if isinstance(layer.get("annotations"), dict) else {}
            out.append(CosignSignature(read_layer(layer), {str(k): str(v) for k, v in annotations.items()}))
    return out


def _verify_bytes(keys: tuple[Any, ...], payload: bytes, signature: bytes) -> bool:
    for key in keys:
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
            elif isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, payload)
            else:
                continue
            return True
        except InvalidSignature:
            continue
    return False


def _exact_fields(value: Any, fields: set[str], where: str) -> dict:
    if not isinstance(value, dict):
        raise Refused(INVALID_SIGNATURE, f"{where} is not a JSON object")
    if set(value) != fields:
        raise Refused(INVALID_SIGNATURE, f"{where} has fields {sorted(value)}, expected {sorted(fields)}")
    return value


def read_payload(data: bytes, signature_type: str = SIGNATURE_TYPE) -> tuple[str, str]:
    """(docker-manifest-digest, docker-reference) of a verified payload, read as strictly as containers/image; the
    same JSON for cosign's ``cosign container image signature`` and GPG's ``atomic container signature``."""
    try:
        doc = json.loads(data)
    except ValueError:
        raise Refused(INVALID_SIGNATURE, "the payload is not JSON") from None
    top = _exact_fields(doc, {"critical", "optional"}, "the payload")
    if top["optional"] is not None and not isinstance(top["optional"], dict):
        raise Refused(INVALID_SIGNATURE, "optional is not an object")
    critical = _exact_fields(top["critical"], {"type", "image", "identity"}, "critical")
    if critical["type"] != signature_type:
        raise Refused(INVALID_SIGNATURE, f"unrecognized signature type {critical['type']!r}")
    image = _exact_fields(critical["image"], {"docker-manifest-digest"}, "critical.image")
    identity = _exact_fields(critical["identity"], {"docker-reference"}, "critical.identity")
    digest, ref = image["docker-manifest-digest"], identity["docker-reference"]
    if not isinstance(digest, str) or not isinstance(ref, str):
        raise Refused(INVALID_SIGNATURE, "docker-manifest-digest and docker-reference must be strings")
    return digest, ref


def verify(signature: CosignSignature, keys: tuple[Any, ...], digest: str,
           identity_ok: Callable[[str], bool]) -> None:
    """Accept ``signature`` for the image of ``digest``, or raise :class:`Refused` with the reason."""
    text = signature.annotations.get(SIGNATURE_ANNOTATION)
    if text is None:
        raise Refused(NO_SIGNATURE, f"missing {SIGNATURE_ANNOTATION} annotation")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(INVALID_SIGNATURE, f"{SIGNATURE_ANNOTATION} is not base64") from None
    if not _verify_bytes(keys, signature.payload, raw):
        raise Refused(WRONG_KEY, "the signature does not verify with any trusted key")
    check_claims(read_payload(signature.payload), digest, identity_ok)


def check_claims(claims: tuple[str, str], digest: str, identity_ok: Callable[[str], bool]) -> None:
    """A verified payload's (digest, identity) against the digest being copied and the ``signedIdentity``."""
    signed_digest, claimed = claims
    if signed_digest != digest:
        raise Refused(DIGEST_MISMATCH, f"the signature is for {signed_digest}, not {digest}")
    if not identity_ok(claimed):
        raise Refused(IDENTITY_MISMATCH, f"the signature's identity {claimed!r} is not accepted")


def accepted(signatures: list[CosignSignature], keys: tuple[Any, ...], digest: str,
             identity_ok: Callable[[str], bool]) -> None:
    """One signature that :func:`verify` accepts is enough; else :class:`Refused` with the most telling reason."""
    one_of(signatures, lambda s: verify(s, keys, digest, identity_ok))


def one_of(signatures: list, check: Callable[[Any], None]) -> None:
    """Accept when ``check`` accepts one of ``signatures``; else :class:`Refused`, with the most telling reason."""
    if not signatures:
        raise Refused(NO_SIGNATURE, "a signature was required, but none exists")
    refusals = []
    for s in signatures:
        try:
            check(s)
            return
        except Refused as exc:
            refusals.append(exc)
    best = min(refusals, key=lambda e: _FURTHEST.index(e.reason) if e.reason in _FURTHEST else len(_FURTHEST))
    if len(refusals) == 1:
        raise best
    raise Refused(best.reason, f"none of {len(refusals)} signatures accepted: "
                               + "; ".join(e.message for e in refusals))
