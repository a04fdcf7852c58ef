"""Signatures, attestations, SBOMs and OCI referrers in the formats cosign and oras write, pushed with plain httpx
(``devtools.samples.SamplePusher``): no cosign binary and no network needed, the formats are plain OCI manifests.

- a signature of ``sha256:<hex>``: an image manifest tagged ``sha256-<hex>.sig`` whose layer (media type
  ``application/vnd.dev.cosign.simplesigning.v1+json``) is the simple-signing payload, with a real ECDSA P-256
  signature of it (made with openssl) in the annotation ``dev.cosignproject.cosign/signature``;
- an attestation: tag ``.att``, a DSSE envelope layer (``application/vnd.dsse.envelope.v1+json``) with its
  ``predicateType`` annotation;
- an SBOM: tag ``.sbom``, an SPDX JSON layer;
- an OCI 1.1 referrer: a manifest with ``subject`` and ``artifactType``, listed (docker-registry 2.8 has no
  referrers API) in the index under the fallback tag ``sha256-<hex>``, read, merged and written back as oras does.
"""

from __future__ import annotations

import base64

from devtools.cosign import (SIGNATURE_ANNOTATION, SIMPLESIGNING, Pushed, Signer,  # noqa: F401 - re-exported
                             push_cosign_manifest, compact_json, sign)
from devtools.samples import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Blob, SamplePusher, make_manifest

DSSE = "application/vnd.dsse.envelope.v1+json"
SPDX = "text/spdx+json"


def attest(pusher: SamplePusher, signer: Signer, repository: str, digest: str) -> Pushed:
    """cosign attest: ``sha256-<hex>.att``, a DSSE envelope of an in-toto statement."""
    statement = compact_json({"_type": "https://in-toto.io/Statement/v0.1",
                       "predicateType": "https://slsa.dev/provenance/v0.2",
                       "subject": [{"name": f"{pusher.host}/{repository}", "digest": {"sha256": digest[7:]}}],
                       "predicate": {"builder": {"id": "mirrorsync-tests"}}})
    pae = b"DSSEv1 28 application/vnd.in-toto+json %d %s" % (len(statement), statement)
    envelope = compact_json({"payloadType": "application/vnd.in-toto+json",
                             "payload": base64.b64encode(statement).decode(),
                             "signatures": [{"keyid": "", "sig": base64.b64encode(signer.sign(pae)).decode()}]})
    return push_cosign_manifest(pusher, repository, digest.replace(":", "-") + ".att", Blob(DSSE, envelope),
                            {"predicateType": "https://slsa.dev/provenance/v0.2"})


def attach_sbom(pusher: SamplePusher, repository: str, digest: str) -> Pushed:
    """cosign attach sbom: ``sha256-<hex>.sbom``."""
    sbom = compact_json({"spdxVersion": "SPDX-2.3", "name": digest, "packages": [{"name": "busybox"}]})
    return push_cosign_manifest(pusher, repository, digest.replace(":", "-") + ".sbom", Blob(SPDX, sbom), {})


def push_referrer(pusher: SamplePusher, repository: str, subject: dict, artifact_type: str, *,
                  content: bytes = b"{}", fallback: bool = True) -> Pushed:
    """An OCI 1.1 artifact whose ``subject`` is ``subject`` (a descriptor), pushed by digest, and (``fallback``)
    added to the subject's fallback index, keeping what that lists already."""
    empty, payload = Blob(OCI_EMPTY, b"{}"), Blob(artifact_type, content)
    for blob in (empty, payload):
        pusher.push_blob(repository, blob)
    manifest = make_manifest(empty, [payload], subject=subject, artifact_type=artifact_type,
                             annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"})
    pusher.push_manifest(repository, manifest.digest, manifest)
    descriptor = {"mediaType": OCI_MANIFEST, "digest": manifest.digest, "size": manifest.size,
                  "artifactType": artifact_type,
                  "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}}
    if fallback:
        tag = subject["digest"].replace(":", "-")
        listed = fallback_entries(pusher, repository, subject["digest"])
        index = Blob(OCI_INDEX, compact_json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                       "manifests": [*listed, descriptor]}))
        pusher.push_manifest(repository, tag, index)
    return Pushed(None, manifest.digest, manifest.data, descriptor)


def fallback_entries(pusher: SamplePusher, repository: str, digest: str) -> list[dict]:
    """The descriptors the fallback index of ``digest`` lists (none when there is no such tag)."""
    response = pusher._client.get(f"{pusher.url}/v2/{repository}/manifests/{digest.replace(':', '-')}",
                                  headers={"Accept": OCI_INDEX})
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return response.json()["manifests"]
