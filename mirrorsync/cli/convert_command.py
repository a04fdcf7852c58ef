"""``convert``: a sync manifest from a skopeo sync file or an oc-mirror ImageSetConfiguration."""

from __future__ import annotations

from typing import List, Optional

import typer

from ..errors import InputError
from .options import OutputFileShortOpt, output_file
from .outputs import fail, write_text_output


def convert(
    file: str = typer.Argument(..., metavar="FILE",
                               help="A skopeo sync YAML source file, or an oc-mirror ImageSetConfiguration "
                                    "(mirror.openshift.io/v1alpha2 or v2alpha1)."),
    output: Optional[str] = typer.Option(None, "--output", metavar="FILE",
                                         help="Write the manifest to FILE (atomically) instead of standard output."),
    output_short: Optional[str] = OutputFileShortOpt,
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
    from ..convert import convert as convert_file

    try:
        output = output_file(output, output_short)  # before the work: a clash of the two is a usage error
        text = convert_file(file, mirrors, insecure_mirror=insecure_mirror, scoped=scoped,
                            warn=lambda line: typer.echo(f"warning: {line}", err=True))
        write_text_output(text, output)
    except InputError as exc:
        fail(exc)
