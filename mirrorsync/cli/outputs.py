"""How a command ends: bad input as one ``error: ...`` line with its exit code; after a sync (``run``, ``import``,
``export``) report.json, the CRs, the metrics, the one-line summary and the exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import MirrorsyncError
from ..sync.status import RunStatus
from .session import note


def fail(exc: MirrorsyncError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


def write_metrics(rep, metrics_file: Optional[Path], pushgateway: Optional[str], shard=None) -> None:
    """Write/push the run's metrics; a failure is a warning, as the sync itself is done and reported."""
    from ..sync import metrics

    try:
        if metrics_file is not None:
            metrics.write_textfile(rep, metrics_file)
        if pushgateway:
            metrics.push(rep, pushgateway, grouping={"shard": str(shard.index)} if shard else None)
    except MirrorsyncError as exc:
        typer.echo(f"warning: {exc}", err=True)


def write_outputs(rep, output_dir: Path, icsp: bool) -> list[Path]:
    """report.json (with what applying the new CRs does to the nodes), then the mirror sets built from it."""
    from ..pipeline.outputs import write_report_and_mirror_sets

    return write_report_and_mirror_sets(rep, output_dir, icsp=icsp)


def finish_sync(rep, output_dir: Path, written: list[Path], metrics_file: Optional[Path], pushgateway: Optional[str],
            shard=None) -> None:
    """Metrics, the one-line summary, the files written, and the exit code of a sync."""
    from ..sync.report import REPORT_FILE

    write_metrics(rep, metrics_file, pushgateway, shard)
    totals = rep.totals()
    kept = sum(1 for img in rep.failed if any(d.onMirror for d in img.destinations))
    note(f"{rep.status}: {totals['copied']} copied, {totals['upToDate']} up to date, {totals['failed']} failed"
          + (f" ({kept} of them kept on the mirrors from earlier runs)" if kept else "")
          + f"; report {output_dir / REPORT_FILE}")
    for c in rep.sections.get("catalogs") or []:
        pushed = [f"{m['reference']}@{m['digest']}" for m in c["mirrors"] if m.get("digest")]
        note(f"catalog {c['catalog']}: " + (c["error"] if c.get("error") else
             f"{len(c['bundles'])} bundles kept, {len(c['leftOut'])} left out (see the report)"
             + (f"; {', '.join(pushed)}" if pushed else "")))
    if rep.nodeImpact is not None:
        note(applying_line(output_dir, rep.nodeImpact))
    for path in written:
        typer.echo(str(path))
    raise typer.Exit(0 if rep.status == RunStatus.SUCCEEDED else 1)


def applying_line(output_dir: Path, node_impact: dict, prefix: str = "applying") -> str:
    """The summary's last line: what applying the cluster-resources/ just written does to the nodes."""
    from ..openshift.cluster_resources import directory
    from ..openshift.drain import Verdict

    return f"{prefix} {directory(output_dir)}/: {Verdict.from_dict(node_impact).line()}"
