"""What the releases of a report add to the output directory: the signature ConfigMaps in ``cluster-resources/``
(cluster objects, listed in its Kustomization), the install-config block beside it (not a cluster object), and
the UpdateService in ``cluster-resources/update-service/`` (not listed: it needs the operator's CRD first).
All come from the report alone, as the mirror sets do, so ``generate`` and ``import`` write them too.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ...atomicfile import write_atomic
from ...sync.report import Report
from ..mirrorsets import MirrorSetFile
from ..object_dirs import directory
from . import install_config, update_service
from .planning import signature_configmaps
from .records import release_records
from .signatures import FILENAME as SIGNATURES_FILENAME


def cluster_files(reports: list[Report]) -> list[MirrorSetFile]:
    text = signature_configmaps([r for rep in reports for r in release_records(rep)])
    return [MirrorSetFile(SIGNATURES_FILENAME, text)] if text else []


def write_beside(reports: list[Report], output_dir: str | Path) -> list[Path]:
    """The install-config block into the output directory and the UpdateService below the cluster resources, or
    their removal when no release (no graph-data image) is on the mirrors."""
    written = []
    service_dir = directory(Path(output_dir)) / update_service.DIRECTORY
    for path, text in ((Path(output_dir) / install_config.FILENAME, install_config.block(reports)),
                       (service_dir / update_service.FILENAME, update_service.text(reports))):
        if text is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
        written.append(path)
    with contextlib.suppress(OSError):  # empty once no UpdateService is written; not ours if it holds more
        service_dir.rmdir()
    return written
