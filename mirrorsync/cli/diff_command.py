"""``mirrorsync diff OLD NEW``: what applying NEW in place of OLD changes, and whether the nodes drain."""

from __future__ import annotations

import difflib
import json
import sys
from typing import Optional

import typer

from ..errors import InputError
from .options import OutputFormat, OutputFormatOpt
from .outputs import fail

STDIN = "-"
DRAIN_EXIT = 3


def _load(arg: str, stdin_used: list[bool]):
    from ..openshift.crs import load_mirror_sets, parse_mirror_sets

    if arg != STDIN:
        return load_mirror_sets([arg], require=True)
    if stdin_used:
        raise InputError("only one of OLD and NEW can be - (standard input)")
    stdin_used.append(True)
    try:
        text = sys.stdin.read()
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file="<stdin>") from None
    return parse_mirror_sets(text, file="<stdin>")


def diff(
    old: str = typer.Argument(..., metavar="OLD",
                              help="What the cluster has: an output directory (its cluster-resources/), IDMS/ITMS/ICSP "
                                   "files or directories, or - for `oc get imagedigestmirrorset,imagetagmirrorset,"
                                   "imagecontentsourcepolicy -o yaml` on standard input."),
    new: str = typer.Argument(..., metavar="NEW", help="What would be applied, in the same forms."),
    output: OutputFormat = OutputFormatOpt,
    insecure: Optional[list[str]] = typer.Option(None, "--insecure", metavar="SCOPE",
                                                 help="An insecure registry of the cluster; repeatable."),
    blocked: Optional[list[str]] = typer.Option(None, "--blocked", metavar="SCOPE",
                                                help="A blocked registry of the cluster; repeatable."),
) -> None:
    """Show what applying NEW in place of OLD changes, and whether the Machine Config Operator drains the nodes.

    Prints the mirror-set entries added, removed and changed, the diff of the registries.conf the MCO renders for
    each, and one verdict line: `no change`, `CRI-O reload, no drain`, or `drain: REASONS` (the rule of the MCO's
    isSafeContainerRegistryConfChanges).

    Exit code 0 for no change or a reload, 3 for a drain, 2 for bad input.
    """
    from ..openshift.drain import compare
    from ..openshift.mirror_set_changes import mirror_set_changes

    try:
        stdin_used: list[bool] = []
        old_sets, new_sets = _load(old, stdin_used), _load(new, stdin_used)
        comparison = compare(old_sets, new_sets, insecure or [], blocked or [])
    except InputError as exc:
        fail(exc)
        return
    changes = mirror_set_changes(old_sets, new_sets)
    verdict = comparison.verdict
    if output == OutputFormat.json:
        typer.echo(json.dumps({**verdict.to_dict(), "added": [c.to_dict() for c in changes.added],
                               "removed": [c.to_dict() for c in changes.removed],
                               "changed": [c.to_dict() for c in changes.changed]}, indent=2))
    else:
        for line in changes.lines():
            typer.echo(line)
        conf_diff = difflib.unified_diff(comparison.old_conf.splitlines(keepends=True),
                                         comparison.new_conf.splitlines(keepends=True),
                                         f"{old} registries.conf", f"{new} registries.conf")
        sys.stdout.write("".join(conf_diff))
        if changes and not verdict.reasons and comparison.old_conf == comparison.new_conf:
            typer.echo("registries.conf: unchanged")
        typer.echo(verdict.line())
    raise typer.Exit(DRAIN_EXIT if verdict.drains else 0)
