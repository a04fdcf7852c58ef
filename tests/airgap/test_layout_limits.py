"""A layout is read with the registry client's limits (issue 27, item 8): a manifest larger than 4 MiB is refused
before it is read, as a registry's answer would be."""

import hashlib
import json

import pytest

from mirrorsync.airgap.layout import REF_NAME, OCILayout
from mirrorsync.errors import MirrorsyncError
from mirrorsync.registry import limits


def test_a_manifest_larger_than_the_registry_limit_is_refused(tmp_path):
    layout = OCILayout(tmp_path / "l")
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "pad": "x" * (limits.MANIFEST_BODY + 1)}).encode()
    hexdigest = hashlib.sha256(body).hexdigest()
    (tmp_path / "l" / "blobs" / "sha256" / hexdigest).write_bytes(body)
    (tmp_path / "l" / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": f"sha256:{hexdigest}",
        "size": len(body), "annotations": {REF_NAME: "quay.io/a/b:v1"}}]}))
    with pytest.raises(MirrorsyncError, match="more than 4 MiB"):
        layout.get_manifest("quay.io/a/b", "v1")
    with pytest.raises(MirrorsyncError, match="more than 4 MiB"):
        layout.get_manifest("quay.io/a/b", f"sha256:{hexdigest}")
