"""The OCI layout store: the on-disk format, the ref-name scheme, crash-safe writes, copies in and out."""

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from mirrorsync.oci.content import OCI_MANIFEST, Descriptor, digest_of, parse_manifest, sha256_digest
from mirrorsync.sync.copy import Copier, Target
from mirrorsync.errors import DigestMismatch, InputError, NotFound
from mirrorsync.airgap.layout import REF_NAME, REF_NAME_RE, OCILayout, ref_name, split_ref_name
from mirrorsync.registry.retry import RetryPolicy
from support.memstore import MemoryStore, make_image


@pytest.fixture
def copier():
    with ThreadPoolExecutor(4) as pool:
        yield Copier(pool, policy=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01))


def test_new_layout_has_the_spec_files(tmp_path):
    OCILayout(tmp_path / "l")
    assert json.loads((tmp_path / "l" / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((tmp_path / "l" / "index.json").read_text())
    assert index["schemaVersion"] == 2 and index["manifests"] == []
    assert (tmp_path / "l" / "blobs" / "sha256").is_dir()


def test_opening_a_directory_that_is_no_layout_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not an OCI image layout"):
        OCILayout(tmp_path, create=False)


@pytest.mark.parametrize("repo,ref", [
    ("quay.io/ocp/release", "v1"), ("127.0.0.1:5000/t/a-b_c", "4.15.0-rc.1"),
    ("docker.io/library/busybox", "sha256:" + "ab" * 32), ("reg.example:443/a/b/c", "latest"),
])
def test_ref_names_follow_the_oci_grammar_and_round_trip(repo, ref):
    name = ref_name(repo, ref)
    assert REF_NAME_RE.match(name), name
    assert split_ref_name(name) == (repo, ref)


def test_copy_into_layout_and_back_keeps_digests(tmp_path, copier):
    src = MemoryStore("src")
    index = make_image(src, "quay.io/ocp/app", "v1")
    layout = OCILayout(tmp_path / "l")
    r = copier.copy(src, "quay.io/ocp/app", "v1", [Target(layout, "quay.io/ocp/app", "layout")], tag="v1")
    assert r.error is None and r.targets[0].status == "copied", r
    assert r.targets[0].blobs_sent == 5

    refs = layout.refs()
    assert refs["quay.io/ocp/app:v1"] == index.digest
    # children are named by digest, so skopeo can read them as oci:DIR:repo@digest too
    for child in index.children:
        assert refs[f"quay.io/ocp/app@{child.digest}"] == child.digest
    assert layout.list_tags("quay.io/ocp/app") == ["v1"]
    assert layout.repositories() == ["quay.io/ocp/app"]

    # entries reach index.json by close() at the latest
    layout.close()
    on_disk = json.loads((tmp_path / "l" / "index.json").read_text())["manifests"]
    assert {e["annotations"][REF_NAME]: e["digest"] for e in on_disk} == refs

    # and out again into another store: same digests, byte for byte
    dst = MemoryStore("dst")
    back = copier.copy(OCILayout(tmp_path / "l", create=False), "quay.io/ocp/app", "v1",
                       [Target(dst, "m/app", "dst")], tag="v1")
    assert back.error is None and back.targets[0].status == "copied"
    assert dst.tags[("m/app", "v1")] == index.digest
    assert {d: dst.blobs[d] for d in src.blobs} == src.blobs


def test_second_copy_into_layout_is_up_to_date(tmp_path, copier):
    src = MemoryStore("src")
    make_image(src, "r/app", "v1")
    layout = OCILayout(tmp_path / "l")
    copier.copy(src, "r/app", "v1", [Target(layout, "r/app", "l")], tag="v1")
    src.reads.clear()
    again = copier.copy(src, "r/app", "v1", [Target(layout, "r/app", "l")], tag="v1")
    assert again.targets[0].status == "up-to-date" and src.reads == []


def test_blobs_are_shared_between_repositories(tmp_path, copier):
    src = MemoryStore("src")
    make_image(src, "r/one", "v1")
    make_image(src, "r/two", "v1")
    layout = OCILayout(tmp_path / "l")
    copier.copy(src, "r/one", "v1", [Target(layout, "r/one", "l")], tag="v1")
    r = copier.copy(src, "r/two", "v1", [Target(layout, "r/two", "l")], tag="v1")
    assert r.targets[0].blobs_skipped == 3 and r.targets[0].blobs_mounted == 0  # base layer + 2 equal configs


def test_digest_only_image_gets_a_digest_ref_name(tmp_path, copier):
    src = MemoryStore("src")
    index = make_image(src, "r/app", None)
    layout = OCILayout(tmp_path / "l")
    r = copier.copy(src, "r/app", index.digest, [Target(layout, "r/app", "l")])
    assert r.targets[0].status == "copied"
    assert layout.refs()[f"r/app@{index.digest}"] == index.digest
    assert layout.manifest_descriptor("r/app", index.digest).digest == index.digest
    assert layout.manifest_descriptor("r/other", index.digest) is None
    assert layout.list_tags("r/app") == []


def test_retag_replaces_the_entry(tmp_path, copier):
    src = MemoryStore("src")
    first = make_image(src, "r/app", "v1")
    layout = OCILayout(tmp_path / "l")
    copier.copy(src, "r/app", "v1", [Target(layout, "r/app", "l")], tag="v1")
    second = make_image(src, "r/app", "v1", arches=("s390x",))
    copier.copy(src, "r/app", "v1", [Target(layout, "r/app", "l")], tag="v1")
    names = [e["annotations"][REF_NAME] for e in layout.entries()]
    assert names.count("r/app:v1") == 1
    assert layout.manifest_descriptor("r/app", "v1").digest == second.digest != first.digest


def test_wrong_bytes_never_become_a_blob(tmp_path):
    layout = OCILayout(tmp_path / "l")
    data = b"hello world"
    desc = Descriptor("application/octet-stream", digest_of(data), len(data))
    with pytest.raises(DigestMismatch):
        layout.write_blob("r", desc, [b"hello", b" there"])
    assert not layout.has_blob("r", desc.digest)
    assert list(layout.blob_path(desc.digest).parent.iterdir()) == []  # no temporary file left behind

    def broken():
        yield b"hello"
        raise ConnectionError("source went away")

    with pytest.raises(ConnectionError):
        layout.write_blob("r", desc, broken())
    assert list(layout.blob_path(desc.digest).parent.iterdir()) == []
    layout.write_blob("r", desc, [b"hello", b" world"])
    with layout.read_blob("any/repo", desc) as chunks:
        assert b"".join(chunks) == data


def test_corrupted_blob_is_detected_when_read(tmp_path):
    layout = OCILayout(tmp_path / "l")
    data = b"x" * 5000
    desc = Descriptor("application/octet-stream", digest_of(data), len(data))
    layout.write_blob("r", desc, [data])
    layout.blob_path(desc.digest).write_bytes(b"y" * 5000)
    with pytest.raises(DigestMismatch), layout.read_blob("r", desc) as chunks:
        b"".join(chunks)


def test_missing_things_are_not_found(tmp_path):
    layout = OCILayout(tmp_path / "l")
    assert layout.manifest_descriptor("r/app", "v1") is None
    with pytest.raises(NotFound, match="r/app:v1 is not in oci:"):
        layout.get_manifest("r/app", "v1")
    with pytest.raises(NotFound):
        with layout.read_blob("r", Descriptor("x", "sha256:" + "0" * 64, 1)):
            pass


def test_concurrent_writers_lose_no_entry(tmp_path, monkeypatch):
    """Threads and separate store objects (as separate processes would) all land in index.json."""
    monkeypatch.setattr("mirrorsync.airgap.layout.FLUSH_INTERVAL", 0.0)  # every put rewrites index.json: the worst case
    path = tmp_path / "l"
    stores = [OCILayout(path) for _ in range(4)]

    def put(i: int) -> None:
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
            "mediaType": "c", "digest": "sha256:" + "0" * 64, "size": 0}, "layers": [], "n": i}).encode()
        m = parse_manifest(body, OCI_MANIFEST, sha256_digest(body))
        stores[i % 4].put_manifest(f"r/app{i % 3}", f"t{i}", m)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in stores:
        store.close()
    refs = OCILayout(path, create=False).refs()
    assert sorted(refs) == sorted(f"r/app{i % 3}:t{i}" for i in range(40))
    assert OCILayout(path).list_tags("r/app1") == sorted(f"t{i}" for i in range(40) if i % 3 == 1)


# --- the export directory around a layout: sizes, archive parts, checksums -------------------------------------

from mirrorsync.airgap import archives, checksums  # noqa: E402


@pytest.mark.parametrize("text,size", [("4G", 4 << 30), ("700M", 700 << 20), ("25GB", 25 * 10**9), ("1.5GiB", 3 << 29),
                                       ("1048576", 1 << 20), ("2k", 2048), ("2KB", 2000)])
def test_archive_sizes(text, size):
    assert archives.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "4X", "-1G", "4 G B", "B"])
def test_bad_archive_sizes(text):
    with pytest.raises(InputError, match="--archive-size: .* is not a size"):
        archives.parse_size(text)


def _files(directory, sizes):
    names = []
    for i, size in enumerate(sizes):
        (directory / f"f{i}").write_bytes(bytes([i]) * size)
        names.append(f"f{i}")
    return names


def test_pack_keeps_every_part_within_the_limit_and_unpack_restores(tmp_path):
    import tarfile

    limit = 1 << 20
    # unpack takes only the names an export writes: blobs by their digest, then the layout's files
    names = _files(tmp_path, [400_000, 400_000, 300_000, 1_000_000, 10, 0])
    layout_names = [f"blobs/sha256/{sha256_digest((tmp_path / n).read_bytes()).partition(':')[2]}" for n in names[:4]]
    layout_names += ["oci-layout", "index.json"]
    (tmp_path / "blobs" / "sha256").mkdir(parents=True)
    for old, new in zip(names, layout_names):
        (tmp_path / old).rename(tmp_path / new)
    names = layout_names
    sums = {n: hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in names}
    parts = archives.pack(tmp_path, names, limit)
    assert len(parts) == 3 and all(p.stat().st_size <= limit for p in parts)
    members = [m.name for p in parts for m in tarfile.open(p)]
    assert members == names and not any((tmp_path / n).exists() for n in names)
    archives.unpack(tmp_path, sums)
    checksums.verify_checksums(tmp_path, sums)


def test_pack_refuses_a_file_larger_than_a_part_and_removes_nothing(tmp_path):
    names = _files(tmp_path, [10, (1 << 20) - 600])
    with pytest.raises(InputError, match="f1 .* does not fit in an archive part of 1048576 bytes"):
        archives.pack(tmp_path, names, 1 << 20)
    assert all((tmp_path / n).exists() for n in names)
    assert not list(tmp_path.glob("*.tar"))


def test_checksums_round_trip_and_damage(tmp_path):
    names = _files(tmp_path, [100, 200])
    checksums.write_checksums(tmp_path, names)
    sums = checksums.read_checksums(tmp_path)
    checksums.verify_checksums(tmp_path, sums)
    (tmp_path / "f0").write_bytes(b"changed")
    (tmp_path / "f1").unlink()
    with pytest.raises(InputError, match="export is damaged: f0: checksum mismatch; f1: missing"):
        checksums.verify_checksums(tmp_path, sums)


@pytest.mark.parametrize("line", ["nothex  file", "a" * 64 + "  /etc/passwd", "a" * 64 + "  ../up"])
def test_checksum_file_cannot_point_outside(tmp_path, line):
    (tmp_path / "SHA256SUMS").write_text(line + "\n")
    with pytest.raises(InputError, match="SHA256SUMS:1: not a sha256sum line"):
        checksums.read_checksums(tmp_path)


def test_many_puts_do_not_rewrite_the_index_each_time(tmp_path, monkeypatch):
    import mirrorsync.airgap.layout as layout_mod

    writes = []
    real = layout_mod.write_atomic
    monkeypatch.setattr(layout_mod, "write_atomic", lambda path, text, **kw: (writes.append(path), real(path, text, **kw)))
    layout = OCILayout(tmp_path / "l")
    writes.clear()
    for i in range(300):
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [], "n": i}).encode()
        layout.put_manifest("r/app", f"t{i}", parse_manifest(body, OCI_MANIFEST, sha256_digest(body)))
    assert len(layout.list_tags("r/app")) == 300  # visible before any flush
    layout.close()
    assert len(writes) <= 5, len(writes)
    assert len(OCILayout(tmp_path / "l", create=False).list_tags("r/app")) == 300
