"""The copier's counters stay exact when many blob threads of one image update them at once."""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from mirrorsync.oci.content import OCI_MANIFEST, parse_manifest, sha256_digest
from mirrorsync.sync.copy import Copier, Target
from support.memstore import MemoryStore


@pytest.fixture
def switch_often():
    """Let threads switch after every few bytecodes, as a loaded machine would, so a racy ``+=`` shows."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_counters_of_one_image_copied_by_64_blob_threads_are_exact(switch_often):
    src, dst = MemoryStore("src"), MemoryStore("dst")
    layers = [src.add_blob("app", f"layer {i} ".encode() * (i + 1)) for i in range(3000)]
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "c", "digest": layers[0].digest, "size": layers[0].size},
                       "layers": [{"mediaType": "l", "digest": b.digest, "size": b.size} for b in layers[1:]]})
    manifest = parse_manifest(body.encode(), OCI_MANIFEST, sha256_digest(body.encode()))
    src.add_manifest("app", manifest, "v1")
    have = layers[::3]  # a third is on the mirror already: skipped, counted apart
    for b in have:
        dst.add_blob("app", src.blobs[b.digest])
    with ThreadPoolExecutor(64) as pool:
        result = Copier(pool).copy(src, "app", "v1", [Target(dst, "app", "dst")], tag="v1")

    tr = result.targets[0]
    assert tr.status == "copied"
    sent = [b for b in layers if b not in have]
    assert (tr.blobs_sent, tr.blobs_skipped) == (len(sent), len(have))
    assert tr.bytes_sent == sum(b.size for b in sent) == result.bytes_read
    assert tr.bytes_skipped == sum(b.size for b in have)
