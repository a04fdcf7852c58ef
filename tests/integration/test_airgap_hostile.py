"""``mirrorsync import`` of hostile export directories (issue 27, items 3, 4 and 8): archive parts that try to
write outside the directory, inflate sparse members, or are no tar at all. Each directory is built here by hand,
as an attacker would, with a SHA256SUMS that matches it; the import must refuse it with one line, exit 2, and
leave the directory (and everything outside it) as it was."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from support.cli import mirrorsync

pytestmark = pytest.mark.integration

PART = "mirrorsync-export-0001.tar"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_name(data: bytes) -> str:
    return f"blobs/sha256/{sha(data)}"


def write_sums(directory: Path, sums: dict[str, str]) -> None:
    (directory / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sorted(sums.items())))


def tar_part(directory: Path, members: dict[str, bytes], name: str = PART) -> Path:
    part = directory / name
    with tarfile.open(part, "w", format=tarfile.USTAR_FORMAT) as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return part


def hostile(directory: Path, members: dict[str, bytes], sums: dict[str, str] | None = None) -> Path:
    """An export directory of one part holding ``members``; SHA256SUMS lists the part and (by default) each member
    at its real checksum."""
    directory.mkdir(parents=True, exist_ok=True)
    part = tar_part(directory, members)
    write_sums(directory, {PART: sha(part.read_bytes()),
                           **(sums if sums is not None else {n: sha(d) for n, d in members.items()})})
    return directory


def snapshot(directory: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for root, dirs, files in os.walk(directory):
        for n in dirs + files:
            p = Path(root) / n
            out[str(p.relative_to(directory))] = os.readlink(p) if p.is_symlink() else (
                p.read_bytes() if p.is_file() else "dir")
    return out


def import_(directory: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return mirrorsync("import", str(directory), "--output-dir", str(tmp_path / "out"))


def assert_refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_a_symlinked_directory_in_the_export_is_not_followed(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    data = b"evil" * 100
    directory = hostile(tmp_path / "export", {blob_name(data): data})
    (directory / "blobs").symlink_to(outside)
    before = snapshot(directory)
    proc = import_(directory, tmp_path)
    assert_refused(proc, "symbolic link", "blobs")
    assert list(outside.iterdir()) == []
    assert snapshot(directory) == before
    # the output directory holds at most its lock: no report, no CRs
    assert {p.name for p in (tmp_path / "out").iterdir()} <= {".mirrorsync.lock"}


def test_names_outside_the_layout_are_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    directory = hostile(tmp_path / "export", {"x/evil": b"evil"})
    (directory / "x").symlink_to(outside)
    before = snapshot(directory)
    assert_refused(import_(directory, tmp_path), "x/evil", "not a file an export writes")
    assert list(outside.iterdir()) == [] and snapshot(directory) == before


def test_a_symlink_at_the_old_temporary_name_is_not_written_through(tmp_path):
    target = tmp_path / "victim"
    target.write_bytes(b"precious")
    directory = hostile(tmp_path / "export", {"index.json": b"{}"})
    (directory / ".index.json.unpack.tmp").symlink_to(target)
    import_(directory, tmp_path)
    assert target.read_bytes() == b"precious"
    assert (directory / ".index.json.unpack.tmp").is_symlink()


def test_a_symlink_at_a_member_name_is_refused(tmp_path):
    target = tmp_path / "victim"
    target.write_bytes(b"precious")
    directory = hostile(tmp_path / "export", {"index.json": b"{}"})
    (directory / "index.json").symlink_to(target)
    assert_refused(import_(directory, tmp_path), "index.json", "symbolic link")
    assert target.read_bytes() == b"precious"


def test_a_sparse_member_is_refused_before_it_is_inflated(tmp_path):
    big = 200 << 20
    staging = tmp_path / "staging"
    name = "blobs/sha256/" + "ab" * 32
    (staging / "blobs" / "sha256").mkdir(parents=True)
    with open(staging / name, "wb") as f:
        f.truncate(big)
    directory = tmp_path / "export"
    directory.mkdir()
    subprocess.run(["tar", "--sparse", "--format=gnu", "-cf", str(directory / PART), "-C", str(staging), name],
                   check=True)
    assert (directory / PART).stat().st_size < 64 << 10
    write_sums(directory, {PART: sha((directory / PART).read_bytes()), name: "ab" * 32})
    before = snapshot(directory)
    assert_refused(import_(directory, tmp_path), name, "not a plain file")
    assert snapshot(directory) == before


def test_a_member_that_does_not_match_its_checksum_is_not_left_behind(tmp_path):
    good, bad = b"good" * 1000, b"bad" * 1000
    directory = tmp_path / "export"
    directory.mkdir()
    # the first part is fine; the second holds a member whose content is not what SHA256SUMS says
    first = tar_part(directory, {blob_name(good): good}, "mirrorsync-export-0001.tar")
    second = tar_part(directory, {"index.json": bad}, "mirrorsync-export-0002.tar")
    write_sums(directory, {first.name: sha(first.read_bytes()), second.name: sha(second.read_bytes()),
                           blob_name(good): sha(good), "index.json": sha(b"something else")})
    before = snapshot(directory)
    assert_refused(import_(directory, tmp_path), "index.json", "checksum mismatch")
    assert snapshot(directory) == before


def test_a_part_that_is_not_a_tar_is_one_line(tmp_path):
    directory = tmp_path / "export"
    directory.mkdir()
    (directory / PART).write_bytes(b"this is no tar archive\n" * 100)
    write_sums(directory, {PART: sha((directory / PART).read_bytes())})
    assert_refused(import_(directory, tmp_path), PART, "not a tar archive")


def test_a_truncated_member_is_one_line_and_left_nowhere(tmp_path):
    data = os.urandom(100_000)
    directory = tmp_path / "export"
    directory.mkdir()
    part = tar_part(directory, {blob_name(data): data})
    with open(part, "r+b") as f:
        f.truncate(50_000)
    write_sums(directory, {PART: sha(part.read_bytes()), blob_name(data): sha(data)})
    before = snapshot(directory)
    assert_refused(import_(directory, tmp_path), PART)
    assert snapshot(directory) == before


def unpacked_export(directory: Path, index: object, mirror: str = "127.0.0.1:1/mirror") -> Path:
    """An unpacked export (layout files and manifest copy) with ``index`` as its index.json."""
    import json

    import yaml

    directory.mkdir(parents=True)
    (directory / "blobs" / "sha256").mkdir(parents=True)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "manifest.yaml").write_text(yaml.safe_dump({
        "apiVersion": "mirrorsync.dev/v1alpha1", "kind": "SyncManifest", "mirrors": [mirror],
        "registries": {"127.0.0.1:1": {"tlsVerify": False}}, "images": [{"source": "quay.io/ocp/app:v1"}]}))
    names = ["oci-layout", "index.json", "manifest.yaml"]
    write_sums(directory, {n: sha((directory / n).read_bytes()) for n in names})
    return directory


@pytest.mark.parametrize("entries,field", [
    (["not an object"], "manifests[0]"),
    ([{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "ab" * 32,
       "size": "large", "annotations": {"org.opencontainers.image.ref.name": "quay.io/ocp/app:v1"}}],
     "manifests[0].size"),
    ([{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": 7, "size": 10}], "manifests[0].digest"),
])
def test_bad_index_json_entries_are_one_line(tmp_path, entries, field):
    directory = unpacked_export(tmp_path / "export", {"schemaVersion": 2, "manifests": entries})
    assert_refused(import_(directory, tmp_path), "index.json", field)
    assert {p.name for p in (tmp_path / "out").iterdir()} <= {".mirrorsync.lock"}


def test_import_can_be_made_to_require_the_sites_own_manifest(tmp_path):
    directory = unpacked_export(tmp_path / "export", {"schemaVersion": 2, "manifests": []})
    for proc in (mirrorsync("import", str(directory), "--output-dir", str(tmp_path / "out"), "--require-manifest"),
                 mirrorsync("import", str(directory), "--output-dir", str(tmp_path / "out"),
                            env={"MIRRORSYNC_IMPORT_REQUIRE_MANIFEST": "1"})):
        assert_refused(proc, "--manifest")
    assert {p.name for p in (tmp_path / "out").iterdir()} <= {".mirrorsync.lock"}


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs: a full disk, for real (skipped where mount is not allowed, as in an unprivileged container)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): the full-disk test needs a real full disk")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_an_export_onto_a_full_disk_is_one_line(registry, seed, unique_repo, tmp_path, small_disk):
    from support.cli import registry_settings, write_manifest

    img = seed(registry, unique_repo("full"), "v1", kind="oci", arches=("amd64",), layers=2, layer_size=1_500_000)
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=["127.0.0.1:1/mirror"],
                              images=[{"source": f"{registry.host}/{img.repository}:v1"}],
                              registries={registry.host: registry_settings(registry)}, options={"retries": 0})
    proc = mirrorsync("export", str(manifest), "--to", str(small_disk / "export"))
    assert proc.returncode in (1, 2), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    # and a disk already full before the layout's first file
    filler = small_disk / "filler"
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    proc = mirrorsync("export", str(manifest), "--to", str(small_disk / "export2"))
    assert proc.returncode in (1, 2), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "No space left on device" in proc.stderr
    copy = small_disk / "export" / "manifest.yaml"
    assert not copy.exists() or copy.read_bytes() == manifest.read_bytes()
