"""``--help`` names no Python type (issue 35): every option that takes a value has a word of its own (FILE, DIR,
N, text|json), flags show none, arguments are their own word."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from mirrorsync.cli.app import app
from mirrorsync.cli.help_layout import untyped_options

ROOT = typer.main.get_command(app)
# what typer prints where it shows a Python type: <bool>, <str>, <int range>, <path>, <file>, <list[Path]>, ...
PYTHON_TYPE = re.compile(r"(?<= )<(bool|str|int|float|int range|float range|path|file|dir|list\[[^\]]*\])>")


def _commands(group=ROOT, path=()):
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, path + (name,))


COMMANDS = list(_commands())


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "mirrorsync" for p, _ in COMMANDS])
def test_help_names_no_python_type(path, command):
    assert untyped_options(command) == []
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    assert PYTHON_TYPE.findall(result.output) == []
    assert "--help" in result.output


def test_value_options_show_their_word_and_flags_none():
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│ --")}
    assert lines["--authfile"].split()[2] == "FILE"
    assert lines["--output-dir"].split()[3] == "DIR"  # after -o
    assert lines["--concurrency"].split()[2] == "N"
    assert lines["--icsp"].split()[2] == "Also"  # the help text follows the flag directly
    assert "{MANIFEST}" in result.output
