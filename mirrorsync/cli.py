"""The command line: parse, call the library, print, choose the exit code. Nothing else lives here."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Keep container image mirrors in sync and write the OpenShift mirror sets that use them.")


def main() -> None:
    app()
