"""Where cluster objects sit in an output directory: ``OUTPUT_DIR/cluster-resources/`` (see
:mod:`.cluster_resources`, which writes it), or directly in it for the earlier layout."""

from __future__ import annotations

from pathlib import Path

DIRECTORY = "cluster-resources"


def directory(output_dir: str | Path) -> Path:
    """The cluster-resources directory of an output directory."""
    return Path(output_dir) / DIRECTORY


def object_dir(path: Path) -> Path:
    """Where to read cluster objects when given the directory ``path``: the cluster-resources directory of an
    output directory of the current layout, else ``path`` itself (an earlier layout, or any directory of CRs)."""
    inner = directory(path)
    return inner if inner.is_dir() else path
