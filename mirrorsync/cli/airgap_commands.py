"""The two sides of an air gap: ``export`` copies the manifest's images into a directory to carry across,
``import`` pushes such a directory to the mirrors."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import MirrorsyncError
from ..sync.status import RunStatus
from ..pipeline import sections as manifest_mod
from .options import (AuthFileOpt, BlobConcurrencyOpt, ConcurrencyOpt, IcspOpt, LogFormat, LogFormatOpt,
                      MaxNestedPathsOpt, MetricsFileOpt, OutputDirOpt, PushgatewayOpt, QuietOpt, RetriesOpt,
                      SignaturePolicyOpt, TimeoutOpt, VerboseOpt)
from .outputs import counts_text, finish_sync, status_counts, write_metrics, write_outputs, fail
from .session import Session, note, result_line


def export(
    manifest: Path = typer.Argument(..., help="The sync manifest (YAML).", dir_okay=False),
    to: Path = typer.Option(..., "--to", metavar="DIR",
                            help="The export directory (an OCI image layout; created if missing)."),
    since: List[Path] = typer.Option([], "--since", metavar="REPORT",
                                     help="An earlier export's report.json (or its directory): leave out every blob "
                                          "that export and those before it carried. Or the last report of the site "
                                          "the export is for (its import's or a run's): leave out the blobs of "
                                          "what its mirrors hold. Repeatable."),
    archive_size: Optional[str] = typer.Option(None, "--archive-size", metavar="SIZE",
                                               help="Pack the export into tar files of at most SIZE (4G, 700M, "
                                                    "25GB) each."),
    concurrency: Optional[int] = ConcurrencyOpt,
    blob_concurrency: Optional[int] = BlobConcurrencyOpt,
    retries: Optional[int] = RetriesOpt,
    timeout: Optional[float] = TimeoutOpt,
    authfile: Optional[str] = AuthFileOpt,
    log_format: LogFormat = LogFormatOpt,
    verbose: bool = VerboseOpt,
    quiet: bool = QuietOpt,
    metrics_file: Optional[Path] = MetricsFileOpt,
    pushgateway: Optional[str] = PushgatewayOpt,
    signature_policy: Optional[Path] = SignaturePolicyOpt,
) -> None:
    """Copy the manifest's images into an OCI layout to carry across an air gap, with report and SHA256SUMS."""
    from ..airgap import transfer as airgap
    from ..airgap.archives import parse_size
    from ..pipeline.runner import RunOptions

    session = Session(log_format.value, verbose, quiet)
    try:
        m = manifest_mod.load_manifest(str(manifest))
        size = parse_size(archive_size) if archive_size is not None else None
        with session.locked(to):
            options = RunOptions(concurrency=concurrency, blob_concurrency=blob_concurrency, retries=retries,
                                 timeout=timeout, auth_file=authfile, signature_policy=_path(signature_policy))
            result = airgap.export(m, to, options=options,
                                   since=[str(p) for p in since], archive_size=size, on_event=session.progress,
                                   stop=session.stop, abandon=session.abandon)
            session.progress.finish()
    except MirrorsyncError as exc:
        fail(exc)
        return
    except OSError as exc:  # a full disk or a directory that cannot be written: the run failed, one line
        _disk_failure(exc)
    with session.reporting():
        rep = result.report
        write_metrics(rep, metrics_file, pushgateway)
        counts = status_counts(rep)
        note(f"{rep.status}: {counts_text(counts, ('copied', 'exported'), ('upToDate', 'already there'))}; "
             f"{len(result.blobs)} blobs, {len(result.since)} left to earlier exports, {result.bytes} bytes in {to}",
             level="info" if rep.status == RunStatus.SUCCEEDED else "error", event="summary", status=rep.status,
             **counts, blobs=len(result.blobs), blobsLeftToEarlierExports=len(result.since), bytes=result.bytes,
             directory=str(to))
        for part in result.archives:
            result_line(str(part), event="archive", path=str(part))
        raise typer.Exit(0 if rep.status == RunStatus.SUCCEEDED else 1)


def import_(
    directory: Path = typer.Argument(..., help="An export directory (layout or archive parts).", file_okay=False),
    manifest: Optional[Path] = typer.Option(None, "--manifest", metavar="MANIFEST",
                                            help="Mirrors and settings to use (default: the manifest the export "
                                                 "carries, trusted as it is; see --require-manifest).", dir_okay=False),
    require_manifest: bool = typer.Option(False, "--require-manifest", envvar="MIRRORSYNC_IMPORT_REQUIRE_MANIFEST",
                                          help="Refuse to import without --manifest: never use the manifest the "
                                               "export carries (its checksums prove it intact, not who wrote it). "
                                               "Also set by MIRRORSYNC_IMPORT_REQUIRE_MANIFEST=1."),
    output_dir: Path = OutputDirOpt,
    icsp: bool = IcspOpt,
    concurrency: Optional[int] = ConcurrencyOpt,
    blob_concurrency: Optional[int] = BlobConcurrencyOpt,
    retries: Optional[int] = RetriesOpt,
    timeout: Optional[float] = TimeoutOpt,
    authfile: Optional[str] = AuthFileOpt,
    log_format: LogFormat = LogFormatOpt,
    verbose: bool = VerboseOpt,
    quiet: bool = QuietOpt,
    metrics_file: Optional[Path] = MetricsFileOpt,
    pushgateway: Optional[str] = PushgatewayOpt,
    max_nested_paths: Optional[int] = MaxNestedPathsOpt,
    signature_policy: Optional[Path] = SignaturePolicyOpt,
) -> None:
    """Verify an export's checksums, push it to the mirrors, then write report.json and the CRs (naming the sources)."""
    from ..airgap import transfer as airgap
    from ..pipeline.outputs import RECORDS_FILE, REPORT_FILE
    from ..pipeline.runner import RunOptions

    session = Session(log_format.value, verbose, quiet)
    try:
        with session.locked(output_dir):
            rep = airgap.import_export(directory, manifest_path=str(manifest) if manifest else None,
                                       options=RunOptions(concurrency=concurrency,
                                                          blob_concurrency=blob_concurrency, retries=retries,
                                                          timeout=timeout, auth_file=authfile,
                                                          max_nested_paths=max_nested_paths,
                                                          previous_report=output_dir / REPORT_FILE,
                                                          records_file=output_dir / RECORDS_FILE,
                                                          signature_policy=_path(signature_policy)),
                                       on_event=session.progress, stop=session.stop, abandon=session.abandon,
                                       icsp=icsp, require_manifest=require_manifest)
            session.progress.finish()
            written = write_outputs(rep, output_dir, icsp)
    except MirrorsyncError as exc:
        fail(exc)
        return
    except OSError as exc:  # a full disk or a directory that cannot be written: the run failed, one line
        _disk_failure(exc)
    with session.reporting():
        finish_sync(rep, output_dir, written, metrics_file, pushgateway)


def _path(path: Optional[Path]) -> str | None:
    return str(path) if path is not None else None


def _disk_failure(exc: OSError) -> None:
    where = f"{exc.filename}: " if exc.filename else ""
    note(f"error: cannot write {where}{exc.strerror or exc}", level="error", event="error", exitCode=1)
    raise typer.Exit(1)
