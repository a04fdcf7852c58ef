"""What the releases of a report add to the output directory: the signature ConfigMaps in ``cluster-resources/``
(cluster objects, listed in its Kustomization) and the install-config block beside it (not a cluster object).
Both come from the report alone, as the mirror sets do, so ``generate`` and ``import`` write them too.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ...atomicfile import write_atomic
from ...sync.report import Report
from ..mirrorsets import MirrorSetFile
from . import install_config
from .planning import signature_configmaps
from .records import release_records
from .signatures import FILENAME as SIGNATURES_FILENAME


def cluster_files(reports: list[Report]) -> list[MirrorSetFile]:
    text = signature_configmaps([r for rep in reports for r in release_records(rep)])
    return [MirrorSetFile(SIGNATURES_FILENAME, text)] if text else []


def write_beside(reports: list[Report], output_dir: str | Path) -> list[Path]:
    """The install-config block into the output directory, or its removal when no release is on the mirrors."""
    path = Path(output_dir) / install_config.FILENAME
    text = install_config.block(reports)
    if text is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return []
    write_atomic(path, text)
    return [path]
