"""What a run leaves in its output directory besides report.json: the cluster resources built from reports
alone (the mirror sets of every image, and each section's own objects), the sections' side files, and the lock
that keeps two runs from interleaving them."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import MirrorsyncError
from ..openshift import cluster_image_policies, cluster_resources
from ..openshift.mirrorsets import MirrorSetFile, build_mirror_sets
from ..sync import record_journal
from ..sync.record_journal import RECORDS_FILE  # noqa: F401 - part of this interface
from ..sync.report import REPORT_FILE, Report, mirrored_sources  # noqa: F401 - REPORT_FILE: part of this interface
from .sections import ALL, owned_files

log = logging.getLogger(__name__)

LOCK_FILE = ".mirrorsync.lock"


def render_crs(reports: Iterable[Report], *, icsp: bool = False, name: str = "mirrorsync") -> list[MirrorSetFile]:
    """The IDMS/ITMS (and with ``icsp`` ICSP) files, as ``mirrorsync run`` writes them, for what the reports say
    reached the mirrors (shards of one sync merge)."""
    return build_mirror_sets(mirrored_sources(list(reports)), name=name, icsp=icsp)


def cluster_files(reports: list[Report], *, icsp: bool = False, name: str = "mirrorsync") -> list[MirrorSetFile]:
    """Every file for cluster-resources/: the mirror sets and each section's objects. Every section is asked,
    given in a manifest or not: a report alone says what to write."""
    return (render_crs(reports, icsp=icsp, name=name) + [f for s in ALL for f in s.cluster_files(reports)]
            + cluster_image_policies.files(reports))


def write_mirror_sets(reports: list[Report], output_dir: str | Path, *, icsp: bool = False,
                      name: str = "mirrorsync", notify: Callable[[str], None] = log.warning,
                      files: list[MirrorSetFile] | None = None) -> list[Path]:
    """Write the CR files for what the reports say reached the mirrors (``files`` when already made by
    :func:`cluster_files`) into the output directory's cluster-resources/ (see
    :mod:`mirrorsync.openshift.cluster_resources`), with every section's objects and side files; remove ours that
    no longer apply."""
    if files is None:
        files = cluster_files(reports, icsp=icsp, name=name)
    written = cluster_resources.write(output_dir, files, owned=owned_files(), notify=notify)
    return written + [p for s in ALL for p in s.side_files(reports, output_dir)]


def write_report_and_mirror_sets(report: Report, output_dir: str | Path, *, icsp: bool = False,
                                 notify: Callable[[str], None] = log.warning) -> list[Path]:
    """report.json, with ``nodeImpact``: what applying the new cluster-resources/ in place of the directory's
    current ones does to the nodes; then the CR files. The report is written also when the CRs cannot be made."""
    files = None
    try:
        files = cluster_files([report], icsp=icsp)
        report.nodeImpact = cluster_resources.apply_verdict(output_dir, files).to_dict()
    finally:
        report.save(str(Path(output_dir) / REPORT_FILE))
        record_journal.remove(output_dir)  # report.json holds them all now
    return write_mirror_sets([report], output_dir, icsp=icsp, notify=notify, files=files)


@contextlib.contextmanager
def output_lock(output_dir: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on the output directory so two scheduled runs never interleave their files."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MirrorsyncError(f"another mirrorsync run is using {out} (lock {out / LOCK_FILE}); "
                                  "wait for it to finish") from None
        yield
    finally:
        os.close(fd)
