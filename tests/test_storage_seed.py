"""The bench's storage seeder (devtools/storage_seed.py): worker processes write the same files as one process."""

from pathlib import Path

from devtools import storage_seed


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_workers_write_the_same_storage_as_one_process(tmp_path):
    one = storage_seed.seed_tiny_images(tmp_path / "one", repos=9, tags=2)
    two = storage_seed.seed_tiny_images(tmp_path / "two", repos=9, tags=2, workers=2)
    assert [(i.repository, i.tag, i.digest) for i in two] == [(i.repository, i.tag, i.digest) for i in one]
    assert len({i.digest for i in one}) == 18
    tree = _tree(tmp_path / "one")
    assert tree == _tree(tmp_path / "two")
    assert "docker/registry/v2/repositories/scale/repo-9/_manifests/tags/v2/current/link" in tree
