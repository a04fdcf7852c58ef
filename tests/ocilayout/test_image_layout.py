"""One image of an OCI layout as a read-only content store (an oci:// catalog): served by its tag and digests under
any repository name, checked once, never written."""

from __future__ import annotations

import json
import os

import pytest

from mirrorsync.errors import InputError, UnsupportedContent
from mirrorsync.oci.content import Descriptor
from mirrorsync.ocilayout.image_layout import ImageLayout
from support.catalogs import catalog_layout


@pytest.fixture
def layout(tmp_path):
    path = tmp_path / "index-layout"
    digest = catalog_layout(path, arches=("amd64", "arm64"))
    return ImageLayout(path, "latest"), digest


def test_the_image_is_served_by_the_tag_and_by_digest_under_any_repository(layout):
    store, digest = layout
    store.check()
    assert store.manifest_descriptor("any/repo", "latest").digest == digest
    assert store.manifest_descriptor("other", digest).digest == digest
    top = store.get_manifest("x", "latest")
    assert top.is_index and top.digest == digest and len(top.children) == 2
    child = store.get_manifest("y", top.children[0].digest)
    assert store.manifest_descriptor("y", child.digest).size == len(child.data)
    config = child.blobs[0]
    with store.read_blob("z", config) as chunks:
        assert json.loads(b"".join(chunks))["architecture"] == "amd64"
    assert store.list_tags("whatever") == ["latest"]
    assert store.manifest_descriptor("x", "v1") is None  # the layout's own ref.name is not the tag it is served by
    with pytest.raises(UnsupportedContent):
        store.get_manifest("x", "v1")


def test_it_is_read_only(layout):
    store, digest = layout
    with pytest.raises(UnsupportedContent, match="read only"):
        store.write_blob("x", Descriptor("application/octet-stream", "sha256:" + "0" * 64, 1), iter([b"x"]))
    with pytest.raises(UnsupportedContent, match="read only"):
        store.put_manifest("x", "latest", store.get_manifest("x", digest))


def test_a_symbolic_link_is_no_blob_it_has(layout, tmp_path):
    store, digest = layout
    config = store.get_manifest("x", store.get_manifest("x", digest).children[0].digest).blobs[0]
    path = store.path / "blobs" / "sha256" / config.digest.split(":")[1]
    assert store.has_blob("x", config.digest)
    (tmp_path / "elsewhere").write_bytes(path.read_bytes())
    path.unlink()
    os.symlink(tmp_path / "elsewhere", path)
    assert not store.has_blob("x", config.digest)
    with pytest.raises(InputError) as info:
        store.check()
    assert info.value.field == "config.digest" and "symbolic links" in info.value.message


def test_an_empty_index_names_no_catalog(tmp_path):
    path = tmp_path / "empty"
    catalog_layout(path)
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": []}))
    with pytest.raises(InputError) as info:
        ImageLayout(path).check()
    assert (info.value.file, info.value.field) == (str(path / "index.json"), "manifests")
