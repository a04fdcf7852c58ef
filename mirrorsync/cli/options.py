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


AuthFileOpt = typer.Option(None, "--authfile",
                           help="Credentials file (containers auth.json format); it must exist. Default: "
                                "$REGISTRY_AUTH_FILE, else containers/image's search order, then "
                                "~/.docker/config.json.")
ShardOpt = typer.Option(None, "--shard", metavar="INDEX/COUNT",
                        help="Copy only this part of the source repositories (stable hash). Default in an Indexed "
                             "Job: JOB_COMPLETION_INDEX of MIRRORSYNC_SHARD_COUNT.")
MetricsFileOpt = typer.Option(None, "--metrics-file", dir_okay=False,
                              help="Write Prometheus metrics here (a *.prom file for node_exporter's textfile "
                                   "collector).")
PushgatewayOpt = typer.Option(None, "--pushgateway", metavar="URL", envvar="MIRRORSYNC_PUSHGATEWAY",
                              help="Push Prometheus metrics to this Pushgateway (job mirrorsync).")
ConcurrencyOpt = typer.Option(None, min=1, max=256, help="Images copied at once.")
RetriesOpt = typer.Option(None, min=0, max=256, help="Retries per request (each one on its own).")
LogFormatOpt = typer.Option(LogFormat.text, "--log-format", help="Progress and logs as text or JSON lines.")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="Log retries and other details.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="Print only what failed (images, warnings, errors) and the "
                                                    "summary.")
OutputDirOpt = typer.Option(Path("out"), "--output-dir", "-o",
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
