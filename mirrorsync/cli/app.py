"""The command tree: the typer app, which function each command is (in the order the help lists them), and usage
errors as one line. The commands live in sync_commands, convert_command, openshift_commands, diff_command and
airgap_commands.

The command line parses, calls the library, prints and chooses the exit code; nothing else lives in cli/.

Exit codes: 0 everything copied, 1 some images failed or the run was interrupted (the report and the CRs for what
the mirrors hold are still written), 2 bad input or usage; `diff` exits 3 when applying its NEW would drain the
nodes.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from . import airgap_commands, convert_command, diff_command, openshift_commands, sync_commands
from .help_layout import PlainHelpCommand, plain_params

try:  # typer >= 0.2x carries its own copy of click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer on the real click
    from click.exceptions import ClickException


class _OneLineErrors(TyperGroup):
    """Usage errors as one ``error: ...`` line (exit 2), like every other bad input; help on no arguments stays."""

    def get_params(self, ctx):
        return plain_params(super().get_params(ctx))

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


app = typer.Typer(cls=_OneLineErrors, no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Keep container image mirrors in sync and write the OpenShift mirror sets that use them.")



def _version(value: bool) -> None:
    if value:
        from .version import version_line

        typer.echo(version_line())
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                       help="Print the version (and, run from a git checkout, its git describe) "
                                            "and exit.")) -> None:
    """Keep container image mirrors in sync and write the OpenShift mirror sets that use them."""


# in the order the help lists them
app.command(cls=PlainHelpCommand)(sync_commands.run)
app.command(cls=PlainHelpCommand)(sync_commands.plan)
app.command(cls=PlainHelpCommand)(sync_commands.generate)
app.command("migrate-icsp", cls=PlainHelpCommand)(openshift_commands.migrate_icsp)
app.command(cls=PlainHelpCommand)(convert_command.convert)
app.command("registries-conf", cls=PlainHelpCommand)(openshift_commands.registries_conf)
app.command(cls=PlainHelpCommand)(openshift_commands.resolve)
app.command(cls=PlainHelpCommand)(diff_command.diff)
app.command(cls=PlainHelpCommand)(airgap_commands.export)
app.command(name="import", cls=PlainHelpCommand)(airgap_commands.import_)
app.command(cls=PlainHelpCommand)(sync_commands.verify)
app.command(cls=PlainHelpCommand)(sync_commands.prune)

release_app = typer.Typer(cls=_OneLineErrors, no_args_is_help=True, help="Inspect OpenShift release images.")
app.add_typer(release_app, name="release")
release_app.command("info", cls=PlainHelpCommand)(openshift_commands.release_info)

catalog_app = typer.Typer(cls=_OneLineErrors, no_args_is_help=True, help="Look into operator catalogs (file-based "
                                                                          "catalogs).")
app.add_typer(catalog_app, name="catalog")
catalog_app.command("list", cls=PlainHelpCommand)(openshift_commands.catalog_list)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
