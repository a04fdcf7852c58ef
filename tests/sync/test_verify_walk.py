"""verify's walk of manifests shared by several checks (threads): a check that meets a manifest another check is
still walking waits for that walk, instead of counting the manifest whole before its blobs were looked at."""

from __future__ import annotations

import hashlib
import json
import time

from mirrorsync.oci.content import Descriptor, parse_manifest
from mirrorsync.pipeline.verify import Check, verify

OCI = "application/vnd.oci.image.manifest.v1+json"
LAYER = "sha256:" + "11" * 32
CONFIG = "sha256:" + "22" * 32
DATA = json.dumps({"schemaVersion": 2, "mediaType": OCI,
                   "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": CONFIG, "size": 2},
                   "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": LAYER,
                               "size": 3}]}).encode()
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


class SlowMirror:
    """Holds the manifest under two tags, and its config; its layer is missing, and saying so takes a while."""

    def manifest_descriptor(self, repo: str, ref: str):
        return Descriptor(OCI, DIGEST, len(DATA))

    def get_manifest(self, repo: str, ref: str):
        return parse_manifest(DATA, OCI, DIGEST)

    def has_blob(self, repo: str, digest: str) -> bool:
        time.sleep(0.5)  # the other check arrives meanwhile
        return digest == CONFIG


def test_a_manifest_still_being_walked_is_not_counted_whole_by_another_check():
    checks = [Check("mirror.example.com/app", DIGEST, tag) for tag in ("v1", "latest")]
    outcome = verify(checks, lambda host: SlowMirror(), workers=2)
    assert outcome.failed == set(checks)  # both tags name an image whose layer is missing
    assert outcome.problems == [f"missing: mirror.example.com/app@{LAYER} (blob of {DIGEST})"]
