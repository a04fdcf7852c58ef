"""How a command ends: bad input as one ``error: ...`` line with its exit code; after a sync (``run``, ``import``,
``export``) report.json, the CRs, the metrics, the one-line summary and the exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import MirrorsyncError
from ..sync.status import RunStatus, Status
from .session import note, result_line


def fail(exc: MirrorsyncError) -> None:
    note(f"error: {exc}", level="error", event="error", exitCode=exc.exit_code)
    raise typer.Exit(exc.exit_code)


def write_text_output(text: str, output: Optional[str]) -> None:
    """``text`` into the file ``output`` (atomically), or on stdout without one."""
    import sys

    from ..atomicfile import write_atomic
    from ..errors import InputError

    if not output:
        sys.stdout.write(text)
        return
    try:
        write_atomic(output, text)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", file=output) from None


def write_metrics(rep, metrics_file: Optional[Path], pushgateway: Optional[str], shard=None) -> None:
    """Write/push the run's metrics; a failure is a warning, as the sync itself is done and reported."""
    from ..sync import metrics

    try:
        if metrics_file is not None:
            metrics.write_textfile(rep, metrics_file)
        if pushgateway:
            metrics.push(rep, pushgateway, grouping={"shard": str(shard.index)} if shard else None)
    except MirrorsyncError as exc:
        note(f"warning: {exc}", level="warning")


def write_outputs(rep, output_dir: Path, icsp: bool) -> list[Path]:
    """report.json (with what applying the new CRs does to the nodes), then the mirror sets built from it."""
    from ..pipeline.outputs import write_report_and_mirror_sets

    return write_report_and_mirror_sets(rep, output_dir, icsp=icsp)


def finish_sync(rep, output_dir: Path, written: list[Path], metrics_file: Optional[Path], pushgateway: Optional[str],
            shard=None) -> None:
    """Metrics, the one-line summary, the files written, and the exit code of a sync."""
    from ..sync.report import REPORT_FILE

    write_metrics(rep, metrics_file, pushgateway, shard)
    counts = status_counts(rep)
    kept = kept_from_earlier_runs(rep)
    note(f"{rep.status}: {counts_text(counts, ('copied', 'copied'), ('upToDate', 'up to date'))}"
         + (f" ({kept} of them kept on the mirrors from earlier runs)" if kept else "")
         + f"; report {output_dir / REPORT_FILE}",
         level="info" if rep.status == RunStatus.SUCCEEDED else "error", event="summary", status=rep.status,
         **counts, keptFromEarlierRuns=kept, report=str(output_dir / REPORT_FILE))
    for c in rep.sections.get("catalogs") or []:
        pushed = [f"{m['reference']}@{m['digest']}" for m in c["mirrors"] if m.get("digest")]
        note(f"catalog {c['catalog']}: " + (c["error"] if c.get("error") else
             f"{len(c['bundles'])} bundles kept, {len(c['leftOut'])} left out (see the report)"
             + (f"; {', '.join(pushed)}" if pushed else "")),
             level="error" if c.get("error") else "info", event="catalog", catalog=c["catalog"])
    if rep.nodeImpact is not None:
        note(applying_line(output_dir, rep.nodeImpact), event="nodeImpact", nodeImpact=rep.nodeImpact)
    for path in written:
        result_line(str(path), path=str(path))
    raise typer.Exit(0 if rep.status == RunStatus.SUCCEEDED else 1)


COUNTED = {Status.COPIED: "copied", Status.UP_TO_DATE: "upToDate", Status.PARTIAL: "partial",
           Status.FAILED: "failed", Status.SKIPPED: "skipped"}


def status_counts(rep) -> dict[str, int]:
    """The images of the report by their status, under the report's words (camelCase): the summary says what
    report.json says, so an interrupted run's images not started are ``skipped``, not ``failed``."""
    counts = dict.fromkeys(COUNTED.values(), 0)
    for img in rep.images:
        counts[COUNTED.get(img.status, "failed")] += 1
    return counts


def counts_text(counts: dict[str, int], *ok: tuple[str, str]) -> str:
    """``5 copied, 0 up to date, 1 partial, 0 failed, 2 skipped``: the OK words and failed always, partial and
    skipped when there are some."""
    parts = [f"{counts[key]} {word}" for key, word in ok]
    parts += [f"{counts[key]} {key}" for key in ("partial", "failed", "skipped") if counts[key] or key == "failed"]
    return ", ".join(parts)


def kept_from_earlier_runs(rep) -> int:
    """Images that did not get everywhere this run but which a mirror still holds from an earlier run (carried
    over: the destination failed this run, yet is ``onMirror``). A partial image's destinations done this run are
    not "from earlier runs"; a fresh output directory has none."""
    return sum(1 for img in rep.failed if any(d.onMirror and not d.ok for d in img.destinations))


def applying_line(output_dir: Path, node_impact: dict, prefix: str = "applying") -> str:
    """The summary's last line: what applying the cluster-resources/ just written does to the nodes."""
    from ..openshift.cluster_resources import directory
    from ..openshift.drain import Verdict

    return f"{prefix} {directory(output_dir)}/: {Verdict.from_dict(node_impact).line()}"
