"""What several commands take alike: the choices (text or JSON, the copy engine) and the options the copying commands
share, so that each option reads, defaults and helps the same in every command."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer


class LogFormat(str, Enum):
    text = "text"
    json = "json"


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


class EngineName(str, Enum):
    native = "native"
    skopeo = "skopeo"


AuthFileOpt = typer.Option(None, "--authfile", metavar="FILE",
                           help="Credentials file (containers auth.json format); it must exist. Default: "
                                "$REGISTRY_AUTH_FILE, else containers/image's search order, then "
                                "~/.docker/config.json.")
ShardOpt = typer.Option(None, "--shard", metavar="INDEX/COUNT",
                        help="Copy only this part of the source repositories (stable hash). Default in an Indexed "
                             "Job: JOB_COMPLETION_INDEX of MIRRORSYNC_SHARD_COUNT.")
MetricsFileOpt = typer.Option(None, "--metrics-file", dir_okay=False, metavar="FILE",
                              help="Write Prometheus metrics here (a *.prom file for node_exporter's textfile "
                                   "collector).")
PushgatewayOpt = typer.Option(None, "--pushgateway", metavar="URL", envvar="MIRRORSYNC_PUSHGATEWAY",
                              help="Push Prometheus metrics to this Pushgateway (job mirrorsync).")
ConcurrencyOpt = typer.Option(None, "--concurrency", min=1, max=256, metavar="N",
                              help="Images copied at once. Default: options.concurrency, else 8.")
RetriesOpt = typer.Option(None, "--retries", min=0, max=256, metavar="N",
                          help="Retries per request (each one on its own). Default: options.retries, else 5.")
BlobConcurrencyOpt = typer.Option(None, "--blob-concurrency", min=1, max=256, metavar="N",
                                  help="Blob transfers at once, shared by the images in flight. Default: "
                                       "options.blobConcurrency, else 8.")
TimeoutOpt = typer.Option(None, "--timeout", min=1, max=86400, metavar="SECONDS",
                          help="Seconds per network operation. Default: options.timeout, else 60.")
LogFormatOpt = typer.Option(LogFormat.text, "--log-format", metavar="text|json",
                            help="Progress and logs as text or JSON lines.")
OutputFormatOpt = typer.Option(OutputFormat.text, "--output", metavar="text|json", help="text or json.")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="Log retries and other details.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="Print only what failed (images, warnings, errors) and the "
                                                    "summary.")
OutputDirOpt = typer.Option(Path("out"), "--output-dir", "-o", metavar="DIR",
                            help="Where report.json goes; the CRs go in its cluster-resources/ (apply that).")
MaxNestedPathsOpt = typer.Option(None, "--max-nested-paths", min=1, max=64, metavar="N",
                                 help="Repositories on the mirrors have at most N path components, namespace "
                                      "included (Quay, Harbor: 2): deeper ones keep N-1 and join the rest with "
                                      "'-', as oc-mirror does. Default: registries.<host>.maxNestedPaths.")
SignaturePolicyOpt = typer.Option(None, "--signature-policy", metavar="PATH", dir_okay=False,
                                  help="The containers-policy.json every image must satisfy before it is "
                                       "copied (its signatures checked against the policy's keys). Default: the "
                                       "manifest's options.signaturePolicy.")
IcspOpt = typer.Option(False, "--icsp", help="Also write an ImageContentSourcePolicy for older clusters.")

# ``-o`` is the output directory (run, import, prune, generate). ``convert`` and ``registries-conf`` write one file,
# given as --output FILE; their old ``-o FILE`` still works, with a deprecation warning, and is not in --help.
OutputFileShortOpt = typer.Option(None, "-o", hidden=True, metavar="FILE",
                                  help="Deprecated: --output FILE (-o is the output directory elsewhere).")


def output_file(output: str | None, short: str | None) -> str | None:
    """The file given as ``--output FILE``, or as the deprecated ``-o FILE`` (with a warning on stderr)."""
    if short is None:
        return output
    typer.echo("warning: -o FILE is deprecated here and will be removed (everywhere else -o is the output "
               "directory): use --output FILE", err=True)
    if output is not None and output != short:
        from ..errors import InputError

        raise InputError("give the output file once: --output FILE (-o is deprecated)")
    return short
