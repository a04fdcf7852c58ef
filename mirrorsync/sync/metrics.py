"""Prometheus metrics for scheduled syncs: a textfile for node_exporter's textfile collector, or a Pushgateway push.

A scheduled run is a short-lived process, so every metric is a gauge describing the last run (the Pushgateway and
textfile conventions for batch jobs), plus the time of the last successful run, which a failed run must not
erase: it is carried over from the previous textfile, and left untouched on the Pushgateway (a POST replaces only
the metrics it sends). Alert on ``time() - mirrorsync_last_success_timestamp_seconds``.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path
from urllib.parse import quote

import httpx

from ..atomicfile import write_atomic
from ..errors import MirrorsyncError
from .status import RunStatus
from .report import Report

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LAST_SUCCESS = "mirrorsync_last_success_timestamp_seconds"

# name -> (help, unit-free description used in the README); the order is the output order.
METRICS = {
    "mirrorsync_last_run_images": "Images in the last run, by result: copied, skipped (already on every mirror), "
                                  "failed (failed, partial or not started).",
    "mirrorsync_last_run_bytes": "Blob bytes in the last run, by result: copied (sent to mirrors), skipped "
                                 "(mirrors already had them).",
    "mirrorsync_last_run_source_read_bytes": "Blob bytes the last run read from sources.",
    "mirrorsync_last_run_retries": "Requests retried in the last run (a resumed transfer once per break).",
    "mirrorsync_last_run_duration_seconds": "Wall-clock duration of the last run.",
    "mirrorsync_last_run_timestamp_seconds": "When the last run finished (Unix time).",
    "mirrorsync_last_run_success": "1 if the last run copied everything (status Succeeded), else 0.",
    "mirrorsync_last_run_apply_verdict": "What applying the last run's cluster resources does to the nodes: 1 for "
                                         "the verdict (none, reload: CRI-O reload, drain: nodes drained), 0 for "
                                         "the others.",
    LAST_SUCCESS: "When a run last succeeded (Unix time); kept across failed runs.",
}

# mirrorsync.openshift.drain.VERDICTS (the report carries them as text; this layer is below that one)
APPLY_VERDICTS = ("none", "reload", "drain")

_LINE = re.compile(rf"^{LAST_SUCCESS}(?:\{{[^}}]*\}})?\s+(\S+)")


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def samples(report: Report, *, last_success: float | None = None) -> list[tuple[str, dict[str, str], float]]:
    """The metric samples for one run; ``last_success`` is the previous value, used when this run failed."""
    totals = report.totals()
    skipped = totals["upToDate"]
    failed = totals["images"] - totals["copied"] - skipped
    started, finished = _timestamp(report.startedAt), _timestamp(report.finishedAt)
    ok = report.status == RunStatus.SUCCEEDED
    out: list[tuple[str, dict[str, str], float]] = [
        ("mirrorsync_last_run_images", {"result": "copied"}, totals["copied"]),
        ("mirrorsync_last_run_images", {"result": "skipped"}, skipped),
        ("mirrorsync_last_run_images", {"result": "failed"}, failed),
        ("mirrorsync_last_run_bytes", {"result": "copied"}, totals["bytesSent"]),
        ("mirrorsync_last_run_bytes", {"result": "skipped"}, totals["bytesSkipped"]),
        ("mirrorsync_last_run_source_read_bytes", {}, totals["bytesRead"]),
        ("mirrorsync_last_run_retries", {}, totals["retries"]),
    ]
    if started is not None and finished is not None:
        out.append(("mirrorsync_last_run_duration_seconds", {}, max(0.0, finished - started)))
    if finished is not None:
        out.append(("mirrorsync_last_run_timestamp_seconds", {}, finished))
    out.append(("mirrorsync_last_run_success", {}, 1 if ok else 0))
    if report.nodeImpact is not None:
        verdict = report.nodeImpact.get("verdict")
        out.extend(("mirrorsync_last_run_apply_verdict", {"verdict": v}, 1 if v == verdict else 0)
                   for v in APPLY_VERDICTS)
    success = finished if ok else last_success
    if success is not None:
        out.append((LAST_SUCCESS, {}, success))
    return out


def render(report: Report, *, last_success: float | None = None, omit_last_success: bool = False) -> str:
    """The Prometheus text exposition (format 0.0.4) of a run's metrics."""
    lines: list[str] = []
    by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in samples(report, last_success=last_success):
        by_name.setdefault(name, []).append((labels, value))
    for name, help_text in METRICS.items():
        if name not in by_name or (omit_last_success and name == LAST_SUCCESS):
            continue
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        for labels, value in by_name[name]:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{label_text}}} {_number(value)}" if label_text else f"{name} {_number(value)}")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def previous_last_success(path: str | Path) -> float | None:
    """The last-success time recorded in an earlier textfile, if there is one."""
    try:
        text = Path(path).read_text()
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            try:
                return float(m.group(1))
            except ValueError:
                return None
    return None


def write_textfile(report: Report, path: str | Path) -> None:
    """Write the metrics for node_exporter's textfile collector (atomically: it may read at any moment)."""
    path = Path(path)
    try:
        write_atomic(path, render(report, last_success=previous_last_success(path)))
    except OSError as exc:
        raise MirrorsyncError(f"writing metrics to {path}: {exc.strerror or exc}") from None


def push(report: Report, gateway: str, *, job: str = "mirrorsync", grouping: dict[str, str] | None = None,
         timeout: float = 30.0) -> None:
    """Push the metrics to a Pushgateway under ``job`` (and ``grouping`` labels, such as a shard).

    POST, not PUT: a failed run sends no last-success metric, and POST keeps the one already there.
    """
    url = gateway.rstrip("/") + "/metrics/job/" + quote(job, safe="")
    for key, value in (grouping or {}).items():
        if "/" in value or not value:
            # the Pushgateway's rule for values a path segment cannot hold
            url += f"/{quote(key, safe='')}@base64/{base64.urlsafe_b64encode(value.encode()).decode() or '='}"
        else:
            url += f"/{quote(key, safe='')}/{quote(value, safe='')}"
    body = render(report, omit_last_success=report.status != RunStatus.SUCCEEDED)
    # the URL may carry Basic credentials (https://user:password@host/): messages show it without them
    shown = re.sub(r"(?<=//)[^/@]*@", "***@", gateway)
    try:
        response = httpx.post(url, content=body.encode(), headers={"Content-Type": CONTENT_TYPE}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise MirrorsyncError(f"pushing metrics to {shown}: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 300:
        raise MirrorsyncError(f"pushing metrics to {shown}: HTTP {response.status_code} "
                              f"{response.text.strip()[:200]}")
