"""cosign's signature format, pushed with plain httpx (``SamplePusher``): an image manifest tagged
``sha256-<hex>.sig`` whose layer (``application/vnd.dev.cosign.simplesigning.v1+json``) is the simple-signing
payload, with a real ECDSA P-256 signature of it (made with openssl) in the annotation
``dev.cosignproject.cosign/signature``, laid out as cosign 2.x pushes it. For the tests (``tests/support/cosign.py``
adds attestations, SBOMs and referrers) and the benchmarks (signed images for the signature gate's no-op row).
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .samples import OCI_CONFIG, OCI_MANIFEST, Blob, SamplePusher

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"


@dataclass(frozen=True)
class Pushed:
    tag: str | None
    digest: str
    data: bytes
    descriptor: dict


def compact_json(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Signer:
    """An ECDSA P-256 key of the test's own (``key.pem``, ``key.pub``) in ``directory``."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.key, self.pub = directory / "key.pem", directory / "key.pub"
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(self.key)],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "ec", "-in", str(self.key), "-pubout", "-out", str(self.pub)], check=True,
                       capture_output=True)

    def sign(self, payload: bytes) -> bytes:
        return subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=payload, check=True,
                              capture_output=True).stdout

    def verifies(self, payload: bytes, signature: bytes, tmp: Path) -> bool:
        sig = tmp / "sig.der"
        sig.write_bytes(signature)
        return subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(self.pub), "-signature", str(sig)],
                              input=payload, capture_output=True).returncode == 0


def push_cosign_manifest(pusher: SamplePusher, repository: str, tag: str, layer: Blob, annotations: dict) -> Pushed:
    config = Blob(OCI_CONFIG, compact_json({"architecture": "", "created": "0001-01-01T00:00:00Z",
                                     "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
                                     "rootfs": {"type": "layers", "diff_ids": [layer.digest]}, "config": {}}))
    for blob in (config, layer):
        pusher.push_blob(repository, blob)
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
            "layers": [layer.descriptor(annotations=annotations)]}
    manifest = Blob(OCI_MANIFEST, compact_json(body))
    pusher.push_manifest(repository, tag, manifest)
    return Pushed(tag, manifest.digest, manifest.data, {"mediaType": OCI_MANIFEST, "digest": manifest.digest,
                                                        "size": manifest.size})


def sign(pusher: SamplePusher, signer: Signer, repository: str, digest: str, *, identity: str | None = None,
         signed_digest: str | None = None, tamper: bool = False) -> Pushed:
    """cosign sign: ``sha256-<hex>.sig`` in ``repository``, claiming ``host/repository`` (cosign's identity, no
    tag) unless ``identity`` says otherwise, for ``digest`` unless the payload is to name ``signed_digest``;
    ``tamper`` pushes the payload changed after it was signed (its signature then verifies with no key)."""
    payload = compact_json({"critical": {"identity": {"docker-reference": identity or f"{pusher.host}/{repository}"},
                                  "image": {"docker-manifest-digest": signed_digest or digest},
                                  "type": "cosign container image signature"}, "optional": None})
    signature = base64.b64encode(signer.sign(payload)).decode()
    if tamper:
        payload = payload.replace(b'"optional":null', b'"optional":{"creator":"mallory"}')
    return push_cosign_manifest(pusher, repository, digest.replace(":", "-") + ".sig", Blob(SIMPLESIGNING, payload),
                            {SIGNATURE_ANNOTATION: signature})
