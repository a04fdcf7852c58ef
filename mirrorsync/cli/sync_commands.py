"""The commands around a sync manifest and its mirrors: ``run`` (copy), ``plan`` (what a run would copy),
``generate`` (the CRs from reports), ``verify`` (the mirrors hold what the CRs promise) and ``prune`` (delete what is no
longer selected)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import InputError, MirrorsyncError
from ..pipeline import sections as manifest_mod
from ..sync import report as report_mod
from .options import (AuthFileOpt, BlobConcurrencyOpt, ConcurrencyOpt, EngineName, IcspOpt, LogFormat, LogFormatOpt,
                      MaxNestedPathsOpt, MetricsFileOpt, OutputDirOpt, OutputFormat, OutputFormatOpt,
                      PushgatewayOpt, QuietOpt, RetriesOpt, ShardOpt, SignaturePolicyOpt, TimeoutOpt, VerboseOpt)
from .outputs import applying_line, finish_sync, write_outputs, fail
from .session import Session, note


def _shard(text: Optional[str]):
    import os

    from ..sync.plan import SHARD_COUNT_ENV, SHARD_INDEX_ENV, Shard

    if text is not None:
        return Shard.parse(text)
    if SHARD_INDEX_ENV in os.environ and SHARD_COUNT_ENV not in os.environ:
        # every pod of the Indexed Job would copy everything: say so rather than silently not sharding
        note(f"warning: {SHARD_INDEX_ENV} is set but {SHARD_COUNT_ENV} is not: copying every shard", level="warning")
    return Shard.from_env()


def run(
    manifest: Path = typer.Argument(..., help="The sync manifest (YAML).", dir_okay=False),
    output_dir: Path = OutputDirOpt,
    engine: Optional[EngineName] = typer.Option(None, "--engine", metavar="native|skopeo",
                                                help="Copy engine (default: the manifest's, else native)."),
    icsp: bool = IcspOpt,
    concurrency: Optional[int] = ConcurrencyOpt,
    blob_concurrency: Optional[int] = BlobConcurrencyOpt,
    retries: Optional[int] = RetriesOpt,
    timeout: Optional[float] = TimeoutOpt,
    authfile: Optional[str] = AuthFileOpt,
    log_format: LogFormat = LogFormatOpt,
    verbose: bool = VerboseOpt,
    quiet: bool = QuietOpt,
    shard: Optional[str] = ShardOpt,
    metrics_file: Optional[Path] = MetricsFileOpt,
    pushgateway: Optional[str] = PushgatewayOpt,
    max_nested_paths: Optional[int] = MaxNestedPathsOpt,
    signature_policy: Optional[Path] = SignaturePolicyOpt,
) -> None:
    """Copy the manifest's images to every mirror, then write report.json and the IDMS/ITMS for what the mirrors hold.

    A failed image keeps the entries an earlier run's report.json gave, where each mirror still holds it.

    Every entry a run removes is logged and listed in the report (removedEntries).
    """
    from ..pipeline.outputs import RECORDS_FILE, REPORT_FILE
    from ..pipeline.runner import RunOptions, Runner

    session = Session(log_format.value, verbose, quiet)
    try:
        m = manifest_mod.load_manifest(str(manifest), max_nested_paths=max_nested_paths)
        if icsp:
            m.check_icsp()
        the_shard = _shard(shard)
        runner = Runner(m, RunOptions(engine=engine.value if engine else None, concurrency=concurrency,
                                      blob_concurrency=blob_concurrency, retries=retries, timeout=timeout,
                                      auth_file=authfile, shard=the_shard,
                                      previous_report=output_dir / REPORT_FILE,
                                      records_file=output_dir / RECORDS_FILE,
                                      signature_policy=str(signature_policy) if signature_policy else None),
                        on_event=session.progress, stop=session.stop, abandon=session.abandon)
        runner.check_credentials()  # before the output directory is touched
        with session.locked(output_dir):
            rep = runner.run()
            session.progress.finish()
            written = write_outputs(rep, output_dir, icsp)
    except MirrorsyncError as exc:
        fail(exc)
        return
    with session.reporting():
        finish_sync(rep, output_dir, written, metrics_file, pushgateway, the_shard)


def plan(
    manifest: Path = typer.Argument(..., help="The sync manifest (YAML).", dir_okay=False),
    output: OutputFormat = OutputFormatOpt,
    authfile: Optional[str] = AuthFileOpt,
    max_nested_paths: Optional[int] = MaxNestedPathsOpt,
    verify_signatures: bool = typer.Option(False, "--verify-signatures",
                                           help="Also check each image against the signature policy, as a run "
                                                "would, without copying; exit 1 if one is refused."),
    signature_policy: Optional[Path] = SignaturePolicyOpt,
    offline: bool = typer.Option(False, "--offline",
                                 help="Read no registry: check the manifest, its files and credentials, and plan "
                                      "only the tags and digests it names (unchecked)."),
) -> None:
    """Show what a run would copy, and why each listed tag was taken or left (reads source tag lists; writes
    nothing).

    Checks what a run checks first (files, auth files, certDirs), HEADs every tag and digest the manifest names on
    its source, says which registries have credentials, and warns of entries that select nothing.
    """
    from ..openshift.releases import served as served_releases
    from ..pipeline import plan_checks
    from ..pipeline.runner import RunOptions, Runner
    from ..pipeline.sections import PLUGGED

    signatures: list[dict] = []
    try:
        m = manifest_mod.load_manifest(str(manifest), max_nested_paths=max_nested_paths)
        runner = Runner(m, RunOptions(auth_file=authfile,
                                      signature_policy=str(signature_policy) if signature_policy else None))
        runner.check_credentials()  # what run refuses before copying, plan refuses too
        credentials = plan_checks.credentials(m, authfile)
        left: list[str] = []
        if offline:
            if verify_signatures:
                raise InputError("--verify-signatures reads the sources' signatures: it cannot go with --offline",
                                 field="--offline")
            the_plan, left = plan_checks.offline_plan(m)
        else:
            clients = runner.clients()
            try:
                the_plan = runner.plan(clients)
                plan_checks.check_sources(m, the_plan, clients)
                if verify_signatures:
                    signatures = runner.check_signatures(the_plan.jobs, clients, the_plan)
            finally:
                clients.close()
    except MirrorsyncError as exc:
        fail(exc)
        return
    for warning in plan_checks.unselected(m, the_plan):
        typer.echo(f"warning: {warning}", err=True)
    refused = any(not s["accepted"] for s in signatures)
    planned = the_plan.to_dict(() if offline else PLUGGED)
    if output == OutputFormat.json:
        for job, s in zip(planned["jobs"], signatures):
            job["signature"] = s
        planned["credentials"] = [c.to_dict() for c in credentials]
        if offline:
            planned["notPlanned"] = left
        sys.stdout.write(json.dumps(planned, indent=2, sort_keys=True) + "\n")
    else:
        for i, job in enumerate(the_plan.jobs):
            tag = f":{job.target_tag}" if job.target_tag else ""  # a release's image: tagged on the mirrors
            typer.echo(f"{job} -> {', '.join(d.name + tag for d in job.destinations)}")
            if signatures:
                s = signatures[i]
                typer.echo(f"  signature: accepted ({s['scope']}, {s['digest']})" if s["accepted"] else
                           f"  signature-rejected: {s.get('reason') or s.get('error')} ({s.get('scope', '-')})")
        for selection in the_plan.selections:  # why each listed tag was taken or left
            taken = sum(d.taken for d in selection.decisions)
            typer.echo(f"tags of {selection.spec.source.name} (images[{selection.spec.index}]): "
                       f"{len(selection.decisions)} listed, {taken} taken")
            for decision in selection.decisions:
                typer.echo(f"  {decision}")
        for cp in planned.get("catalogs", []):  # which bundles each catalog filter keeps
            _echo_catalog_plan(cp)
        if served_releases.KEY in planned:  # the update graph the mirrored releases make
            for line in served_releases.text_lines(planned[served_releases.KEY]):
                typer.echo(line)
        for chart in planned.get("charts", []):  # each chart, where it goes, its images
            _echo_chart_plan(chart, m)
        for c in credentials:
            typer.echo(c.line())
        for line in left:
            typer.echo(line)
        for f in the_plan.failures:
            typer.echo(f"cannot plan {f.spec.source.name}: {f.error}", err=True)
    chart_errors = any(c.get("error") for c in planned.get("charts", []))
    raise typer.Exit(1 if the_plan.failures or chart_errors or refused else 0)


def _echo_chart_plan(chart: dict, manifest) -> None:
    if chart.get("error"):
        typer.echo(f"cannot plan {chart['source']}: {chart['error']}", err=True)
        return
    targets = ", ".join(f"{mirror.registry}/{mirror.repository(chart['repository'])}:{chart['tag']}"
                        for mirror in manifest.mirrors)
    typer.echo(f"chart {chart['chart']} {chart['version']} ({chart['source']}) -> {targets}")
    for image in chart["images"]:
        typer.echo(f"  image {image['image']} ({image['foundBy']}: {image['where']})")
    for warning in chart["warnings"]:
        typer.echo(f"  warning: {warning}")


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


def generate(
    reports: List[Path] = typer.Argument(..., help="One or more report.json files (shards of one sync merge).",
                                          dir_okay=False),
    output_dir: Path = typer.Option(Path("."), "--output-dir", "-o", metavar="DIR",
                                    help="The output directory: the CR files go in its cluster-resources/."),
    icsp: bool = typer.Option(False, "--icsp", help="Also write an ImageContentSourcePolicy."),
) -> None:
    """Build the IDMS/ITMS (and ICSP) from earlier reports, for the content on the mirrors (kept entries too).

    The last line on stderr says what applying them in place of the directory's earlier ones does to the nodes.
    """
    from ..openshift.cluster_resources import apply_verdict
    from ..pipeline.outputs import cluster_files, output_lock, write_mirror_sets

    try:
        loaded = [report_mod.load(str(p)) for p in reports]
        with output_lock(output_dir):  # a run writing the same files at once would leave a mix of both
            files = cluster_files(loaded, icsp=icsp)
            verdict = apply_verdict(output_dir, files)
            written = write_mirror_sets(loaded, output_dir, icsp=icsp, files=files,
                                        notify=lambda message: typer.echo(f"note: {message}", err=True))
    except MirrorsyncError as exc:
        fail(exc)
        return
    typer.echo(applying_line(output_dir, verdict.to_dict()), err=True)
    for path in written:
        typer.echo(str(path))


def verify(
    target: Path = typer.Argument(..., metavar="REPORT|OUTPUT_DIR|MANIFEST",
                                  help="A report.json or the output directory holding it (checks what it says "
                                       "reached the mirrors), or a manifest (checks everything it selects, digests "
                                       "from the sources)."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", metavar="MANIFEST",
                                            help="With a report: registry settings (TLS, certificates, auth) from "
                                                 "this manifest (default: the one the report names, if present).",
                                            dir_okay=False),
    authfile: Optional[str] = AuthFileOpt,
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=256, metavar="N", help="Images checked at once."),
    output: OutputFormat = OutputFormatOpt,
    max_nested_paths: Optional[int] = MaxNestedPathsOpt,
    signature_policy: Optional[Path] = typer.Option(None, "--signature-policy", metavar="PATH", dir_okay=False,
                                                    help="Also check that this containers-policy.json accepts "
                                                         "every image, from the signatures on the mirror."),
) -> None:
    """Check that every mirror holds every manifest and blob the CRs promise (blobs by HEAD); exit 1 listing gaps.

    With a report, also says (on stderr) which CR entries (source -> mirror) have all their images on the mirrors.
    """
    from ..sync.report import REPORT_FILE
    from ..pipeline.verify import verify_target

    try:
        report_or_manifest = target / REPORT_FILE if target.is_dir() else target
        outcome, problems = verify_target(str(report_or_manifest), manifest=str(manifest) if manifest else None,
                                          auth_file=authfile, workers=concurrency,
                                          max_nested_paths=max_nested_paths,
                                          signature_policy=str(signature_policy) if signature_policy else None)
    except MirrorsyncError as exc:
        fail(exc)
        return
    if output == OutputFormat.json:
        sys.stdout.write(json.dumps(outcome.to_dict(problems), indent=2, sort_keys=True) + "\n")
        raise typer.Exit(1 if problems else 0)
    for line in problems:
        typer.echo(line)
    for line in outcome.entry_gaps:
        typer.echo(line, err=True)
    typer.echo(f"{'OK' if not problems else 'FAILED'}: {outcome.images} image(s) on mirrors checked, "
               f"{outcome.manifests} manifest(s), {outcome.blobs} blob(s); {len(problems)} problem(s)"
               + (f"; {outcome.entries_ok} of {outcome.entries} CR entries have all their images on the mirrors"
                  if outcome.entries else ""), err=True)
    raise typer.Exit(1 if problems else 0)


def prune(
    manifest: Path = typer.Argument(..., help="The sync manifest (YAML): what stays selected.", dir_okay=False),
    output_dir: Path = typer.Option(Path("out"), "--output-dir", "-o", metavar="DIR",
                                    help="The output directory of the runs whose report.json says what they put "
                                         "on the mirrors; its CRs are rewritten first with --apply."),
    apply: bool = typer.Option(False, "--apply", help="Delete (default: only list what would go, and why)."),
    output: OutputFormat = OutputFormatOpt,
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
    quiet: bool = QuietOpt,
    max_nested_paths: Optional[int] = MaxNestedPathsOpt,
) -> None:
    """Delete from the mirrors what earlier runs put there and the manifest no longer selects.

    A dry run unless --apply. Touches only what report.json records, and never a manifest that a tag or index that
    stays still names.

    With --apply the CRs lose the entries before anything is deleted; a line says first whether applying them
    drains the nodes (removing an entry does). Exit 1 if something could not be deleted.
    """
    from ..pipeline.prune import Pruner

    session = Session(log_format.value, verbose, quiet)
    try:
        m = manifest_mod.load_manifest(str(manifest), max_nested_paths=max_nested_paths)
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
            if quiet and removal.action != "failed":
                continue
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
    if result.nodeImpact is not None:  # entries leave the mirror sets: removing a registry or mirror drains
        n = len(result.removedEntries)
        entries = f"{n} mirror-set {'entry' if n == 1 else 'entries'}"
        note(applying_line(output_dir, result.nodeImpact, f"removed {entries}; applying" if apply
                           else f"--apply removes {entries}; applying"))
    note(f"{'pruned' if apply else 'dry run (--apply to delete)'}: {summary}",
         level="info" if result.ok else "error", event="summary", **counts)
    raise typer.Exit(0 if result.ok else 1)
