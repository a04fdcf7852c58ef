"""``convert``: a sync manifest from a skopeo sync file or an oc-mirror ImageSetConfiguration."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from ..errors import InputError
from .outputs import fail


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
        text = convert_file(file, mirrors, insecure_mirror=insecure_mirror, scoped=scoped,
                            warn=lambda line: typer.echo(f"warning: {line}", err=True))
        if output:
            try:
                write_atomic(output, text)
            except OSError as exc:
                raise InputError(f"cannot write: {exc.strerror or exc}", file=output) from None
        else:
            sys.stdout.write(text)
    except InputError as exc:
        fail(exc)
