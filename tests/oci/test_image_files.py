"""Reading files out of an image's layers, against the real registry: later layers win, whiteouts apply, limits
hold, a corrupt layer is refused, and an index is read for the asked platform."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from devtools.samples import Platform, SamplePusher, make_config, make_files_layer, make_index, make_manifest
from mirrorsync.errors import DigestMismatch, UnsupportedContent
from mirrorsync.oci import image_files
from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import RetryPolicy
from mirrorsync.registry.settings import RegistrySettings


def push(pusher: SamplePusher, repo: str, tag: str, layers: list[dict[str, bytes]], *,
         platform: str = "linux/amd64", labels: str = "") -> tuple[object, object]:
    built = [make_files_layer(files) for files in layers]
    config = make_config(Platform.parse(platform), [diff for _, diff in built], label=labels)
    manifest = make_manifest(config, [blob for blob, _ in built])
    for blob in [config, *(b for b, _ in built)]:
        pusher.push_blob(repo, blob)
    pusher.push_manifest(repo, tag, manifest)
    return manifest, config


@pytest.fixture
def client(registry):
    c = RegistryClient(registry.host, settings=RegistrySettings(tls_verify=False),
                       policy=RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.01))
    yield c
    c.close()


@pytest.fixture
def pusher(registry):
    with SamplePusher(registry.host, insecure=True) as p:
        yield p


def read(client, repo, ref, prefix="etc/", **kw):
    _, image = image_files.platform_manifest(client, repo, ref)
    return image_files.read_files(client, repo, image, lambda p: p.startswith(prefix), **kw)


def test_later_layers_win_and_whiteouts_remove_lower_files(client, pusher, unique_repo):
    repo = unique_repo("files")
    push(pusher, repo, "v1", [
        {"etc/a": b"first a", "etc/b": b"b", "etc/dir/x": b"x", "etc/dir/y": b"y", "etc/opq/old": b"old",
         "usr/other": b"not wanted"},
        {"./etc/a": b"second a", "etc/.wh.b": b"", "etc/.wh.dir": b"", "etc/opq/.wh..wh..opq": b"",
         "etc/opq/new": b"new"},
    ])
    assert read(client, repo, "v1") == {"etc/a": b"second a", "etc/opq/new": b"new"}


def test_a_whiteout_hides_only_lower_layers_not_its_own(client, pusher, unique_repo):
    repo = unique_repo("files")
    push(pusher, repo, "v1", [{"etc/keep": b"lower"}, {"etc/.wh.keep": b"", "etc/keep": b"same layer"}])
    assert read(client, repo, "v1") == {"etc/keep": b"same layer"}


def test_index_is_read_for_the_asked_platform(client, pusher, unique_repo, registry):
    repo = unique_repo("files")
    children = []
    for plat in ("linux/amd64", "linux/arm64/v8"):
        manifest, _ = push(pusher, repo, plat.replace("/", "-"), [{"etc/arch": plat.encode()}], platform=plat)
        children.append((manifest, Platform.parse(plat)))
    pusher.push_manifest(repo, "multi", make_index(children))
    _, image = image_files.platform_manifest(client, repo, "multi", "linux/arm64")
    assert image_files.read_files(client, repo, image, lambda p: True) == {"etc/arch": b"linux/arm64/v8"}
    assert image_files.image_config(client, repo, image)["architecture"] == "arm64"
    with pytest.raises(UnsupportedContent, match=r"no linux/s390x image \(it has: linux/amd64, linux/arm64/v8\)"):
        image_files.platform_manifest(client, repo, "multi", "linux/s390x")


def test_file_and_total_limits(client, pusher, unique_repo):
    repo = unique_repo("files")
    push(pusher, repo, "v1", [{"etc/big": b"x" * 5000, "etc/small": b"y" * 100}])
    with pytest.raises(UnsupportedContent, match="etc/big is 5000 bytes, more than the 4096 read"):
        read(client, repo, "v1", max_file_bytes=4096)
    with pytest.raises(UnsupportedContent, match="more than their read limit"):
        read(client, repo, "v1", max_total_bytes=5050)
    assert len(read(client, repo, "v1", max_total_bytes=5100)) == 2


def test_a_layer_whose_bytes_do_not_match_its_digest_is_refused(client, pusher, unique_repo):
    """The registry serves the blob by digest; a manifest naming a wrong size for it is caught while streaming."""
    repo = unique_repo("files")
    manifest, _ = push(pusher, repo, "v1", [{"etc/a": b"a"}])
    _, image = image_files.platform_manifest(client, repo, "v1")
    layer = image.blobs[1]
    bad = image.__class__(image.data, image.media_type, image.digest,
                          blobs=(image.blobs[0], layer.__class__(layer.media_type, layer.digest, layer.size + 1)))
    with pytest.raises(DigestMismatch):
        image_files.read_files(client, repo, bad, lambda p: True)


def test_an_uncompressed_layer_and_a_layer_that_is_not_a_tar(client, pusher, unique_repo):
    from devtools.samples import Blob

    repo = unique_repo("files")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("etc/plain")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"plain"))
    plain = Blob("application/vnd.oci.image.layer.v1.tar", raw.getvalue())
    junk = Blob("application/vnd.oci.image.layer.v1.tar+gzip", gzip.compress(b"not a tar at all" * 100))
    config = make_config(Platform.parse("linux/amd64"), ["sha256:" + "0" * 64])
    for blob in (plain, junk, config):
        pusher.push_blob(repo, blob)
    pusher.push_manifest(repo, "plain", make_manifest(config, [plain]))
    pusher.push_manifest(repo, "junk", make_manifest(config, [junk]))
    assert read(client, repo, "plain") == {"etc/plain": b"plain"}
    with pytest.raises(UnsupportedContent, match="is not a readable tar layer"):
        read(client, repo, "junk")
