"""The command line: parse, call the library, print, choose the exit code. Nothing else lives here.

Exit codes: 0 everything copied, 1 some images failed or the run was interrupted (the report and the CRs for what
the mirrors hold are still written), 2 bad input or usage.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperGroup

from ..errors import InputError, MirrorsyncError
from ..pipeline import sections as manifest_mod
from ..sync import report as report_mod
from ..sync.status import RunStatus
from .session import Session, note

try:  # typer >= 0.2x carries its own copy of click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer on the real click
    from click.exceptions import ClickException


class _OneLineErrors(TyperGroup):
    """Usage errors as one ``error: ...`` line (exit 2), like every other bad input; help on no arguments stays."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()
            else:
                ctx = getattr(exc, "ctx", None)
                where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                typer.echo(f"error: {' '.join(exc.format_message().split())}{where}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(cls=_OneLineErrors, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Keep container image mirrors in sync and write the OpenShift mirror sets that use them.")


class LogFormat(str, Enum):
    text = "text"
    json = "json"


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


class EngineName(str, Enum):
    native = "native"
    skopeo = "skopeo"


def fail(exc: MirrorsyncError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


AuthFileOpt = typer.Option(None, "--authfile",
                           help="Credentials file (containers auth.json format); it must exist. Default: "
                                "$REGISTRY_AUTH_FILE, else containers/image's search order, then "
                                "~/.docker/config.json.")
ShardOpt = typer.Option(None, "--shard", metavar="INDEX/COUNT",
                        help="Copy only this part of the source repositories (stable hash). Default in an Indexed "
                             "Job: JOB_COMPLETION_INDEX/MIRRORSYNC_SHARD_COUNT.")
MetricsFileOpt = typer.Option(None, "--metrics-file", dir_okay=False,
                              help="Write Prometheus metrics here (a *.prom file for node_exporter's textfile "
                                   "collector).")
PushgatewayOpt = typer.Option(None, "--pushgateway", metavar="URL", envvar="MIRRORSYNC_PUSHGATEWAY",
                              help="Push Prometheus metrics to this Pushgateway (job mirrorsync).")
ConcurrencyOpt = typer.Option(None, min=1, max=256, help="Images copied at once.")
RetriesOpt = typer.Option(None, min=0, max=256, help="Retries per request (each one on its own).")
LogFormatOpt = typer.Option(LogFormat.text, "--log-format", help="Progress and logs as text or JSON lines.")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="Log retries and other details.")
OutputDirOpt = typer.Option(Path("out"), "--output-dir", "-o",
                            help="Where report.json goes; the CRs go in its cluster-resources/ (apply that).")
IcspOpt = typer.Option(False, "--icsp", help="Also write an ImageContentSourcePolicy for older clusters.")


def _shard(text: Optional[str]):
    import os

    from ..sync.plan import SHARD_COUNT_ENV, SHARD_INDEX_ENV, Shard

    if text is not None:
        return Shard.parse(text)
    if SHARD_INDEX_ENV in os.environ and SHARD_COUNT_ENV not in os.environ:
        # every pod of the Indexed Job would copy everything: say so rather than silently not sharding
        typer.echo(f"warning: {SHARD_INDEX_ENV} is set but {SHARD_COUNT_ENV} is not: copying every shard", err=True)
    return Shard.from_env()


def _metrics(rep, metrics_file: Optional[Path], pushgateway: Optional[str], shard=None) -> None:
    """Write/push the run's metrics; a failure is a warning, as the sync itself is done and reported."""
    from ..sync import metrics

    try:
        if metrics_file is not None:
            metrics.write_textfile(rep, metrics_file)
        if pushgateway:
            metrics.push(rep, pushgateway, grouping={"shard": str(shard.index)} if shard else None)
    except MirrorsyncError as exc:
        typer.echo(f"warning: {exc}", err=True)


def _write_outputs(rep, output_dir: Path, icsp: bool) -> list[Path]:
    """report.json, then the mirror sets built from it."""
    from ..pipeline.outputs import REPORT_FILE, write_mirror_sets

    rep.save(str(output_dir / REPORT_FILE))
    return write_mirror_sets([rep], output_dir, icsp=icsp)


def _finish(rep, output_dir: Path, written: list[Path], metrics_file: Optional[Path], pushgateway: Optional[str],
            shard=None) -> None:
    """Metrics, the one-line summary, the files written, and the exit code of a sync."""
    from ..sync.report import REPORT_FILE

    _metrics(rep, metrics_file, pushgateway, shard)
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
    for path in written:
        typer.echo(str(path))
    raise typer.Exit(0 if rep.status == RunStatus.SUCCEEDED else 1)


@app.command()
def run(
    manifest: Path = typer.Argument(..., help="The sync manifest (YAML).", dir_okay=False),
    output_dir: Path = OutputDirOpt,
    engine: Optional[EngineName] = typer.Option(None, help="Copy engine (default: the manifest's, else native)."),
    icsp: bool = IcspOpt,
    concurrency: Optional[int] = ConcurrencyOpt,
    retries: Optional[int] = RetriesOpt,
    authfile: Optional[str] = AuthFileOpt,
    log_format: LogFormat = LogFormatOpt,
    verbose: bool = VerboseOpt,
    shard: Optional[str] = ShardOpt,
    metrics_file: Optional[Path] = MetricsFileOpt,
    pushgateway: Optional[str] = PushgatewayOpt,
) -> None:
    """Copy the manifest's images to every mirror, then write report.json and the IDMS/ITMS for what the mirrors hold.

    A failed image keeps the entries an earlier run's report.json gave, where each mirror still holds it.

    Every entry a run removes is logged and listed in the report (removedEntries).
    """
    from ..pipeline.outputs import REPORT_FILE
    from ..pipeline.runner import RunOptions, Runner

    session = Session(log_format.value, verbose)
    try:
        m = manifest_mod.load_manifest(str(manifest))
        if icsp:
            m.check_icsp()
        the_shard = _shard(shard)
        runner = Runner(m, RunOptions(engine=engine.value if engine else None, concurrency=concurrency,
                                      retries=retries, auth_file=authfile, shard=the_shard,
                                      previous_report=output_dir / REPORT_FILE),
                        on_event=session.progress, stop=session.stop, abandon=session.abandon)
        runner.check_credentials()  # before the output directory is touched
        with session.locked(output_dir):
            rep = runner.run()
            session.progress.finish()
            written = _write_outputs(rep, output_dir, icsp)
    except MirrorsyncError as exc:
        fail(exc)
        return
    with session.reporting():
        _finish(rep, output_dir, written, metrics_file, pushgateway, the_shard)


@app.command()
def plan(
    manifest: Path = typer.Argument(..., help="The sync manifest (YAML).", dir_okay=False),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", help="text or json."),
    authfile: Optional[str] = AuthFileOpt,
) -> None:
    """Show what a run would copy, and why each listed tag was taken or left (reads source tag lists; writes
    nothing)."""
    from ..pipeline.runner import RunOptions, Runner
    from ..pipeline.sections import PLUGGED

    try:
        m = manifest_mod.load_manifest(str(manifest))
        runner = Runner(m, RunOptions(auth_file=authfile))
        clients = runner.clients()
        try:
            the_plan = runner.plan(clients)
        finally:
            clients.close()
    except MirrorsyncError as exc:
        fail(exc)
        return
    if output == OutputFormat.json:
        sys.stdout.write(the_plan.to_json(PLUGGED))
    else:
        for job in the_plan.jobs:
            tag = f":{job.target_tag}" if job.target_tag else ""  # a release's image: tagged on the mirrors
            typer.echo(f"{job} -> {', '.join(d.name + tag for d in job.destinations)}")
        for selection in the_plan.selections:  # why each listed tag was taken or left
            taken = sum(d.taken for d in selection.decisions)
            typer.echo(f"tags of {selection.spec.source.name} (images[{selection.spec.index}]): "
                       f"{len(selection.decisions)} listed, {taken} taken")
            for decision in selection.decisions:
                typer.echo(f"  {decision}")
        for cp in the_plan.to_dict(PLUGGED).get("catalogs", []):  # which bundles each catalog filter keeps
            _echo_catalog_plan(cp)
        for f in the_plan.failures:
            typer.echo(f"cannot plan {f.spec.source.name}: {f.error}", err=True)
    raise typer.Exit(1 if the_plan.failures else 0)


def _echo_catalog_plan(plan: dict) -> None:
    if plan.get("error"):
        return  # said with the planning failures
    typer.echo(f"catalog {plan['catalog']}@{plan['digest']}: {len(plan['bundles'])} bundles kept"
               + (" (the whole catalog, unchanged)" if plan["full"] else ""))
    for b in plan["bundles"]:
        typer.echo(f"  keep {b['package']} {b['name']} ({b['version']}): {b['reason']}")
    for b in plan["leftOut"]:
        typer.echo(f"  leave out {b['package']} {b['bundle']}: {b['reason']}")
    for d in plan["dependenciesAdded"]:
        typer.echo(f"  add package {d['package']}: {d['reason']}")


@app.command()
def generate(
    reports: List[Path] = typer.Argument(..., help="One or more report.json files (shards of one sync merge).",
                                          dir_okay=False),
    output_dir: Path = typer.Option(Path("."), "--output-dir", "-o",
                                    help="The output directory: the CR files go in its cluster-resources/."),
    icsp: bool = typer.Option(False, "--icsp", help="Also write an ImageContentSourcePolicy."),
) -> None:
    """Build the IDMS/ITMS (and ICSP) from earlier reports, for the content on the mirrors (kept entries too)."""
    from ..pipeline.outputs import output_lock, write_mirror_sets

    try:
        loaded = [report_mod.load(str(p)) for p in reports]
        with output_lock(output_dir):  # a run writing the same files at once would leave a mix of both
            written = write_mirror_sets(loaded, output_dir, icsp=icsp,
                                        notify=lambda message: typer.echo(f"note: {message}", err=True))
    except MirrorsyncError as exc:
        fail(exc)
        return
    for path in written:
        typer.echo(str(path))


@app.command("migrate-icsp")
def migrate_icsp(
    files: List[str] = typer.Argument(..., metavar="FILE",
                                      help="ImageContentSourcePolicy files (YAML or JSON, several documents allowed)."),
    dest_dir: Optional[str] = typer.Option(None, "--dest-dir", metavar="DIR",
                                           help="Where to write (default: the current directory; created if missing)."),
) -> None:
    """Convert ICSP files to ImageDigestMirrorSet files, like `oc adm migrate icsp`.

    Writes one imagedigestmirrorset_<first ICSP's name>.<random digits>.yaml per input file, one IDMS per ICSP.

    Every input is checked first: anything that is not an ICSP fails the command before a file is written.
    """
    from ..openshift.migrate_icsp import migrate_icsp as migrate

    try:
        written = migrate(files, dest_dir)
    except InputError as exc:
        fail(exc)
        return
    for path in written:
        typer.echo(f"wrote ImageDigestMirrorSet to {path}")


@app.command()
def convert(
    file: str = typer.Argument(..., metavar="FILE",
                               help="A skopeo sync YAML source file, or an oc-mirror ImageSetConfiguration "
                                    "(mirror.openshift.io/v1alpha2 or v2alpha1)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="OUT",
                                         help="Write the manifest to OUT (atomically) instead of standard output."),
    mirrors: List[str] = typer.Option([], "--mirror", metavar="HOST[:PORT][/NAMESPACE]",
                                      help="A mirror to fill, in the order nodes try them; repeatable, at least one "
                                           "(neither input format names its mirrors)."),
    insecure_mirror: bool = typer.Option(False, "--insecure-mirror",
                                         help="The mirrors speak plain HTTP or unverified TLS (skopeo sync's "
                                              "--dest-tls-verify=false): sets their tlsVerify: false."),
    scoped: bool = typer.Option(False, "--scoped",
                                help="As skopeo sync --scoped: a skopeo sync file's repositories land at "
                                     "<mirror>/<host>/<path>, not at <mirror>/<last path component>."),
) -> None:
    """Write a sync manifest equivalent to a skopeo sync file or an oc-mirror ImageSetConfiguration.

    What has no equivalent becomes a comment at the top naming the input's line; credentials are never copied.
    """
    from ..atomicfile import write_atomic
    from ..convert import convert as convert_file

    try:
        text = convert_file(file, mirrors, insecure_mirror=insecure_mirror, scoped=scoped)
        if output:
            try:
                write_atomic(output, text)
            except OSError as exc:
                raise InputError(f"cannot write: {exc.strerror or exc}", file=output) from None
        else:
            sys.stdout.write(text)
    except InputError as exc:
        fail(exc)


@app.command("registries-conf")
def registries_conf(
    paths: List[str] = typer.Argument(..., metavar="FILE_OR_DIR",
                                      help="IDMS/ITMS/ICSP files (.yaml/.yml/.json, several documents, kind: List) or "
                                           "directories of them (other kinds in a directory are skipped; of an "
                                           "output directory, its cluster-resources/)."),
    insecure: List[str] = typer.Option([], "--insecure", metavar="SCOPE",
                                       help="An insecure registry of the cluster (image.config.openshift.io "
                                            "registrySources.insecureRegistries); repeatable."),
    blocked: List[str] = typer.Option([], "--blocked", metavar="SCOPE",
                                      help="A blocked registry of the cluster (registrySources.blockedRegistries); "
                                           "repeatable."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                         help="Write to FILE (atomically) instead of standard output."),
) -> None:
    """Render the /etc/containers/registries.conf the Machine Config Operator would write for these objects.

    Where the MCO would refuse the objects, fails with the MCO's own message (exit code 2).

    What only the API server would refuse (such as a mirrorSourcePolicy outside the enum) is a warning.
    """
    from ..atomicfile import write_atomic
    from ..openshift.crs import load_mirror_sets
    from ..openshift.mco import crd_problems
    from ..openshift.registries_conf import render_registries_conf

    try:
        sets = load_mirror_sets(paths)
        text = render_registries_conf(sets, insecure, blocked)
        for ms in sets:
            for problem in crd_problems(ms):
                typer.echo(f"warning: {problem} (the API server would reject this object)", err=True)
        if output:
            try:
                write_atomic(output, text)
            except OSError as exc:
                raise InputError(f"cannot write: {exc.strerror or exc}", file=output) from None
        else:
            sys.stdout.write(text)
    except InputError as exc:
        fail(exc)


@app.command()
def resolve(
    reference: str = typer.Argument(..., metavar="REF",
                                    help="Image reference; short names are normalised (busybox -> "
                                         "docker.io/library/busybox:latest)."),
    paths: Optional[List[str]] = typer.Argument(None, metavar="CR_FILE_OR_DIR",
                                                help="IDMS/ITMS/ICSP files or directories (an output directory: "
                                                     "its cluster-resources/), rendered as the MCO would (instead "
                                                     "of --registries-conf)."),
    registries_conf_file: Optional[str] = typer.Option(None, "--registries-conf", metavar="FILE",
                                                       help="Resolve against this registries.conf (v2) instead."),
    insecure: List[str] = typer.Option([], "--insecure", metavar="SCOPE",
                                       help="With CR files: an insecure registry of the cluster; repeatable."),
    blocked: List[str] = typer.Option([], "--blocked", metavar="SCOPE",
                                      help="With CR files: a blocked registry of the cluster; repeatable."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", help="text or json."),
) -> None:
    """Show where a node would pull REF from, in order: mirrors first, the primary location last.

    The longest matching registries.conf prefix applies (containers/image rules).

    Digest-only mirrors serve digest references, tag-only mirrors tag references; blocked locations are skipped.
    """
    from ..openshift import registries_conf as regconf
    from ..openshift.crs import load_mirror_sets
    from ..openshift.resolve import config_from_mirror_sets, resolve as resolve_ref

    try:
        if bool(paths) == bool(registries_conf_file):
            raise InputError("give either --registries-conf FILE or CR files/directories (one of the two)")
        if registries_conf_file:
            if insecure or blocked:
                raise InputError("--insecure and --blocked apply to CR files; a registries.conf already has them")
            config = regconf.load(registries_conf_file)
        else:
            config = config_from_mirror_sets(load_mirror_sets(paths or []), insecure, blocked)
        result = resolve_ref(reference, config)
    except InputError as exc:
        fail(exc)
        return
    if output == OutputFormat.json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    entry = f'registries.conf entry "{result.matched_prefix}"' if result.matched_prefix else \
        "no registries.conf entry applies"
    typer.echo(f"{result.reference} ({entry})")
    for i, source in enumerate(result.sources, 1):
        notes = ["mirror" if source.mirror else "primary"]
        notes += [n for n in (source.pull_from_mirror, "insecure" if source.insecure else "",
                              "blocked: never contacted" if source.blocked else "") if n]
        typer.echo(f"  {i}. {source.reference}  ({', '.join(notes)})")
    if all(source.blocked for source in result.sources):
        typer.echo("every location is blocked: this pull fails")


@app.command()
def export(
    manifest: Path = typer.Argument(..., help="The sync manifest (YAML).", dir_okay=False),
    to: Path = typer.Option(..., "--to", help="The export directory (an OCI image layout; created if missing)."),
    since: List[Path] = typer.Option([], "--since", metavar="REPORT",
                                     help="An earlier export's report.json (or its directory): leave out every blob "
                                          "that export and those before it carried. Repeatable."),
    archive_size: Optional[str] = typer.Option(None, "--archive-size", metavar="SIZE",
                                               help="Pack the export into tar files of at most SIZE (4G, 700M, "
                                                    "25GB) each."),
    concurrency: Optional[int] = ConcurrencyOpt,
    retries: Optional[int] = RetriesOpt,
    authfile: Optional[str] = AuthFileOpt,
    log_format: LogFormat = LogFormatOpt,
    verbose: bool = VerboseOpt,
    metrics_file: Optional[Path] = MetricsFileOpt,
    pushgateway: Optional[str] = PushgatewayOpt,
) -> None:
    """Copy the manifest's images into an OCI layout to carry across an air gap, with report and SHA256SUMS."""
    from ..airgap import transfer as airgap
    from ..airgap.archives import parse_size
    from ..pipeline.runner import RunOptions

    session = Session(log_format.value, verbose)
    try:
        m = manifest_mod.load_manifest(str(manifest))
        size = parse_size(archive_size) if archive_size is not None else None
        with session.locked(to):
            result = airgap.export(m, to, options=RunOptions(concurrency=concurrency, retries=retries,
                                                             auth_file=authfile),
                                   since=[str(p) for p in since], archive_size=size, on_event=session.progress,
                                   stop=session.stop, abandon=session.abandon)
            session.progress.finish()
    except MirrorsyncError as exc:
        fail(exc)
        return
    with session.reporting():
        rep = result.report
        _metrics(rep, metrics_file, pushgateway)
        totals = rep.totals()
        typer.echo(f"{rep.status}: {totals['copied']} exported, {totals['upToDate']} already there, "
                   f"{totals['failed']} failed; {len(result.blobs)} blobs, {len(result.since)} left to earlier "
                   f"exports, {result.bytes} bytes in {to}", err=True)
        for part in result.archives:
            typer.echo(str(part))
        raise typer.Exit(0 if rep.status == RunStatus.SUCCEEDED else 1)


@app.command(name="import")
def import_(
    directory: Path = typer.Argument(..., help="An export directory (layout or archive parts).", file_okay=False),
    manifest: Optional[Path] = typer.Option(None, "--manifest",
                                            help="Mirrors and settings to use (default: the manifest the export "
                                                 "carries).", dir_okay=False),
    output_dir: Path = OutputDirOpt,
    icsp: bool = IcspOpt,
    concurrency: Optional[int] = ConcurrencyOpt,
    retries: Optional[int] = RetriesOpt,
    authfile: Optional[str] = AuthFileOpt,
    log_format: LogFormat = LogFormatOpt,
    verbose: bool = VerboseOpt,
    metrics_file: Optional[Path] = MetricsFileOpt,
    pushgateway: Optional[str] = PushgatewayOpt,
) -> None:
    """Verify an export's checksums, push it to the mirrors, then write report.json and the CRs (naming the sources)."""
    from ..airgap import transfer as airgap
    from ..pipeline.outputs import REPORT_FILE
    from ..pipeline.runner import RunOptions

    session = Session(log_format.value, verbose)
    try:
        with session.locked(output_dir):
            rep = airgap.import_export(directory, manifest_path=str(manifest) if manifest else None,
                                       options=RunOptions(concurrency=concurrency, retries=retries,
                                                          auth_file=authfile,
                                                          previous_report=output_dir / REPORT_FILE),
                                       on_event=session.progress, stop=session.stop, abandon=session.abandon,
                                       icsp=icsp)
            session.progress.finish()
            written = _write_outputs(rep, output_dir, icsp)
    except MirrorsyncError as exc:
        fail(exc)
        return
    with session.reporting():
        _finish(rep, output_dir, written, metrics_file, pushgateway)


@app.command()
def verify(
    target: Path = typer.Argument(..., metavar="REPORT|OUTPUT_DIR|MANIFEST",
                                  help="A report.json or the output directory holding it (checks what it says "
                                       "reached the mirrors), or a manifest (checks everything it selects, digests "
                                       "from the sources)."),
    manifest: Optional[Path] = typer.Option(None, "--manifest",
                                            help="With a report: registry settings (TLS, certificates, auth) from "
                                                 "this manifest (default: the one the report names, if present).",
                                            dir_okay=False),
    authfile: Optional[str] = AuthFileOpt,
    concurrency: int = typer.Option(8, min=1, max=256, help="Images checked at once."),
) -> None:
    """Check that every mirror holds every manifest and blob the CRs promise (blobs by HEAD); exit 1 listing gaps.

    With a report, also says (on stderr) which CR entries (source -> mirror) have all their images on the mirrors.
    """
    from ..sync.report import REPORT_FILE
    from ..pipeline.verify import verify_target

    try:
        report_or_manifest = target / REPORT_FILE if target.is_dir() else target
        outcome, problems = verify_target(str(report_or_manifest), manifest=str(manifest) if manifest else None,
                                          auth_file=authfile, workers=concurrency)
    except MirrorsyncError as exc:
        fail(exc)
        return
    for line in problems:
        typer.echo(line)
    for line in outcome.entry_gaps:
        typer.echo(line, err=True)
    typer.echo(f"{'OK' if not problems else 'FAILED'}: {outcome.images} image(s) on mirrors checked, "
               f"{outcome.manifests} manifest(s), {outcome.blobs} blob(s); {len(problems)} problem(s)"
               + (f"; {outcome.entries_ok} of {outcome.entries} CR entries have all their images on the mirrors"
                  if outcome.entries else ""), err=True)
    raise typer.Exit(1 if problems else 0)


@app.command()
def prune(
    manifest: Path = typer.Argument(..., help="The sync manifest (YAML): what stays selected.", dir_okay=False),
    output_dir: Path = typer.Option(Path("out"), "--output-dir", "-o",
                                    help="The output directory of the runs whose report.json says what they put "
                                         "on the mirrors; its CRs are rewritten first with --apply."),
    apply: bool = typer.Option(False, "--apply", help="Delete (default: only list what would go, and why)."),
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", help="text or json."),
    protect: List[Path] = typer.Option([], "--protect", metavar="REPORT",
                                       help="The report.json (or output directory) of another sync sharing these "
                                            "mirrors: what it holds stays (repeatable)."),
    allow_large_prune: bool = typer.Option(False, "--allow-large-prune",
                                           help="Delete even when a whole mirror or source left the manifest, or "
                                                "more than --max-share of the mirrored images would go."),
    max_share: float = typer.Option(50.0, "--max-share", min=0.0, max=100.0, metavar="PERCENT",
                                    help="The share of the mirrored images --apply deletes without "
                                         "--allow-large-prune."),
    authfile: Optional[str] = AuthFileOpt,
    log_format: LogFormat = LogFormatOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Delete from the mirrors what earlier runs put there and the manifest no longer selects.

    A dry run unless --apply. Touches only what report.json records, and never a manifest that a tag or index that
    stays still names.

    With --apply the CRs lose the entries before anything is deleted. Exit 1 if something could not be deleted.
    """
    from ..pipeline.prune import Pruner

    session = Session(log_format.value, verbose)
    try:
        m = manifest_mod.load_manifest(str(manifest))
        pruner = Pruner(m, output_dir, apply=apply, auth_file=authfile, stop=session.stop,
                        notify=lambda message: note(f"note: {message}"), protect=tuple(protect),
                        allow_large=allow_large_prune, max_share=max_share)
        pruner.check()  # before the output directory is touched
        if apply:
            with session.locked(output_dir):
                result = pruner.run()
        else:
            result = pruner.run()
    except MirrorsyncError as exc:
        fail(exc)
        return
    if output == OutputFormat.json:
        sys.stdout.write(result.to_json())
    else:
        for removal in result.removals:
            for line in removal.lines(apply):
                typer.echo(line)
    for source in result.unlisted:
        note(f"kept everything of {source}: its tags could not be listed, so what the manifest selects is unknown")
    for what in result.keptWhole:
        note(f"kept {what}, so what the manifest selects is unknown")
    for guard in result.guards:
        note(f"{'deleting anyway (--allow-large-prune)' if apply else '--apply would refuse'}: {guard}")
    counts = {a: sum(r.action == a for r in result.removals) for a in
              ("delete", "deleted", "kept", "moved", "gone", "failed")}
    summary = ", ".join(f"{n} {'to delete' if a == 'delete' else a}" for a, n in counts.items() if n) or "nothing"
    note(f"{'pruned' if apply else 'dry run (--apply to delete)'}: {summary}")
    raise typer.Exit(0 if result.ok else 1)


release_app = typer.Typer(cls=_OneLineErrors, no_args_is_help=True, help="Inspect OpenShift release images.")
app.add_typer(release_app, name="release")


@release_app.command("info")
def release_info(
    reference: str = typer.Argument(..., metavar="REF", help="A release image, by tag or digest."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", dir_okay=False,
                                            help="Registry settings (TLS, certificates, auth) from this manifest."),
    authfile: Optional[str] = AuthFileOpt,
    output: OutputFormat = typer.Option(OutputFormat.text, "--output", help="text or json."),
) -> None:
    """Print a release image's version, upgrades and components, like `oc adm release info`.

    Reads release-manifests/ from the image's layers, streamed; nothing is pulled or written.
    """
    from ..openshift.releases.info import describe_release

    try:
        m = manifest_mod.load_manifest(str(manifest)) if manifest else None
        text = describe_release(reference, m, auth_file=authfile, as_json=output == OutputFormat.json)
    except MirrorsyncError as exc:
        fail(exc)
        return
    sys.stdout.write(text)


catalog_app = typer.Typer(cls=_OneLineErrors, no_args_is_help=True, help="Look into operator catalogs (file-based "
                                                                          "catalogs).")
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("list")
def catalog_list(
    catalog: str = typer.Argument(..., metavar="CATALOG",
                                  help="The catalog image, e.g. registry.redhat.io/redhat/redhat-operator-index:v4.15."),
    package: Optional[str] = typer.Option(None, "--package", metavar="P",
                                          help="Show this package's every bundle with its upgrade edges."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", dir_okay=False,
                                            help="Take registry settings (TLS, certificates, auth) from this "
                                                 "manifest."),
    insecure: bool = typer.Option(False, "--insecure",
                                  help="Do not verify the catalog registry's TLS; allow plain HTTP."),
    authfile: Optional[str] = AuthFileOpt,
) -> None:
    """Print a catalog's packages, channels, heads and versions: what an operators filter is written from."""
    from ..openshift.catalogs import listing

    try:
        m = manifest_mod.load_manifest(str(manifest)) if manifest else None
        ref, digest, cat = listing.read(catalog, manifest=m, insecure=insecure, auth_file=authfile)
        text = listing.lines(cat, package)
    except MirrorsyncError as exc:
        fail(exc)
        return
    typer.echo(f"{ref.name}@{digest}")
    for line in text:
        typer.echo(line)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
