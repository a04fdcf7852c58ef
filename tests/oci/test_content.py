import json

import pytest

from mirrorsync.oci.content import (DOCKER_LIST, OCI_INDEX, OCI_MANIFEST, digest_of, parse_manifest, sha256_digest,
                                    verified)
from mirrorsync.errors import DigestMismatch, UnsupportedContent


def test_parse_index_and_image():
    child = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "1" * 64, "size": 10,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}
    idx = parse_manifest(json.dumps({"schemaVersion": 2, "manifests": [child]}).encode(), DOCKER_LIST, "sha256:x")
    assert idx.is_index and idx.children[0].platform == "linux/arm64/v8"
    img = parse_manifest(json.dumps({"schemaVersion": 2, "config": {"mediaType": "c", "digest": "sha256:c", "size": 1},
                                     "layers": [{"mediaType": "l", "digest": "sha256:l", "size": 2,
                                                 "urls": ["https://x"]}]}).encode(), None, "sha256:y")
    assert img.media_type == OCI_MANIFEST and not img.is_index
    assert [b.digest for b in img.blobs] == ["sha256:c", "sha256:l"]
    assert img.blobs[1].foreign


def test_media_type_from_body_when_header_is_generic():
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()
    assert parse_manifest(body, "application/json", "sha256:z").media_type == OCI_INDEX


def test_schema1_refused_with_a_clear_message():
    body = json.dumps({"schemaVersion": 1, "name": "a", "fsLayers": []}).encode()
    with pytest.raises(UnsupportedContent, match="schema 1"):
        parse_manifest(body, "application/vnd.docker.distribution.manifest.v1+prettyjws", "sha256:s")
    with pytest.raises(UnsupportedContent, match="schema 1"):
        parse_manifest(body, None, "sha256:s")


def test_garbage_manifest():
    with pytest.raises(UnsupportedContent, match="not JSON"):
        parse_manifest(b"\xff", None, "sha256:s")
    with pytest.raises(UnsupportedContent, match="not a manifest media type"):
        parse_manifest(b'{"schemaVersion": 2, "mediaType": "text/html"}', "text/html", "sha256:s")
    # an image manifest's body served as text/html: before, it was pushed to the mirror as text/html
    image = b'{"schemaVersion": 2, "config": {"mediaType": "x", "digest": "sha256:' + b"a" * 64 + b'", "size": 1}}'
    for served in ("text/html", "text/html; charset=utf-8", "application/xml"):
        with pytest.raises(UnsupportedContent, match=f"served as '{served.split(';')[0]}'"):
            parse_manifest(image, served, "sha256:s")
    assert parse_manifest(image, "application/vnd.oci.image.manifest.v1+json", "sha256:s").blobs


def test_verified_passes_good_bytes_through():
    data = b"hello world" * 1000
    out = b"".join(verified((data[i:i + 100] for i in range(0, len(data), 100)), sha256_digest(data), len(data), "b"))
    assert out == data


def test_verified_holds_back_the_last_chunk_of_bad_bytes():
    data = b"abc" * 10
    chunks = [data[:10], data[10:20], data[20:]]
    got = []
    with pytest.raises(DigestMismatch, match="expected sha256:"):
        for c in verified(iter(chunks), sha256_digest(b"other"), len(data), "b"):
            got.append(c)
    assert b"".join(got) != data and len(got) == 2, "the tail was never released"


def test_verified_checks_size():
    with pytest.raises(DigestMismatch, match="more than the expected"):
        list(verified([b"abcd"], sha256_digest(b"abcd"), 3, "b"))


def test_digest_of_sha512():
    assert digest_of(b"x", "sha512:").startswith("sha512:")
