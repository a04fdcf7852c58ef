"""The command reference in docs/cli/: one Markdown page per command, written from the command line itself (its
usage, help text, arguments and options), so that it cannot drift from ``--help``. tests/test_cli_docs.py fails
when a page is stale; ``.venv/bin/python devtools/cli_docs.py`` rewrites them (``--check``: only say which are).
"""

from __future__ import annotations

import inspect
import sys
from enum import Enum
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "cli"
HEADER = ("<!-- Written by devtools/cli_docs.py from the command line: do not edit, run "
          "`.venv/bin/python devtools/cli_docs.py`. -->")


def _commands(command, path: tuple[str, ...] = ()):
    """(path, command) of the root and every command and group below it, in the order the help lists them."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, path + (name,))


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(text: object) -> str:
    return f"`{_cell(text)}`"


def _default(param) -> str:
    value = param.default
    if param.required or value is None or value == [] or value == () or getattr(param, "is_flag", False):
        return ""
    if isinstance(value, Enum):
        value = value.value
    return _code(value)


def _value(param) -> str:
    if getattr(param, "is_flag", False):
        return ""
    text = param.metavar or param.name.upper()
    if getattr(param, "min", None) is not None or getattr(param, "max", None) is not None:
        low = "" if param.min is None else f"{param.min} <= "
        high = "" if param.max is None else f" <= {param.max}"
        text += f" ({low}x{high})"
    return _code(text)


def _usage(path: tuple[str, ...], command) -> str:
    parts = ["mirrorsync", *path, "[OPTIONS]"]
    for param in command.params:
        if param.param_type_name != "argument":
            continue
        word = param.metavar or param.name.upper()
        word += "..." if param.nargs != 1 else ""
        parts.append(word if param.required else f"[{word}]")
    if getattr(command, "commands", None):
        parts.append("COMMAND [ARGS]...")
    return " ".join(parts)


def _name(path: tuple[str, ...]) -> str:
    return "-".join(path) or "mirrorsync"


def page(path: tuple[str, ...], command) -> str:
    """The Markdown reference of one command."""
    title = " ".join(("mirrorsync", *path))
    lines = [f"# {title}", "", HEADER, "", "```", _usage(path, command), "```", ""]
    lines += [inspect.cleandoc(command.help or "").strip(), ""]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    options = [p for p in command.params if p.param_type_name == "option" and not p.hidden]
    if arguments:
        lines += ["## Arguments", "", "| argument | required | description |", "| --- | --- | --- |"]
        lines += [f"| {_code(p.metavar or p.name.upper())} | {'yes' if p.required else 'no'} | {_cell(p.help or '')} |"
                  for p in arguments]
        lines.append("")
    lines += ["## Options", "", "| option | value | default | description |", "| --- | --- | --- | --- |"]
    for p in options:
        names = ", ".join(_code(o) for o in (*p.opts, *p.secondary_opts))
        envvar = f" (environment: {_code(p.envvar)})" if p.envvar else ""
        lines.append(f"| {names} | {_value(p)} | {_default(p)} | {_cell(p.help or '')}{envvar} |")
    lines += ["| `--help`, `-h` |  |  | Show the help and exit. |", ""]
    subs = getattr(command, "commands", {})
    if subs:
        lines += ["## Commands", "", "| command | what it does |", "| --- | --- |"]
        for name, sub in subs.items():
            first = inspect.cleandoc(sub.help or "").split("\n\n")[0]
            lines.append(f"| [{name}]({_name(path + (name,))}.md) | {_cell(first)} |")
        lines.append("")
    return "\n".join(lines)


def pages() -> dict[str, str]:
    """File name -> text of every page: one per command and group, and the root's (mirrorsync.md)."""
    import typer.main

    from mirrorsync.cli.app import app

    root = typer.main.get_command(app)
    return {f"{_name(path)}.md": page(path, command) for path, command in _commands(root)}


def stale(directory: Path = DOCS) -> list[str]:
    """The pages in ``directory`` that differ from the command line, are missing, or name no command."""
    want = pages()
    have = {p.name for p in directory.glob("*.md")} if directory.is_dir() else set()
    return sorted(name for name in want.keys() | have
                  if name not in have or name not in want or (directory / name).read_text() != want[name])


def write(directory: Path = DOCS) -> list[str]:
    """Rewrite ``directory`` to the command line's pages; returns the names changed or removed."""
    changed = stale(directory)
    directory.mkdir(parents=True, exist_ok=True)
    want = pages()
    for name in changed:
        if name in want:
            (directory / name).write_text(want[name])
        else:
            (directory / name).unlink()
    return changed


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        changed = stale()
        for name in changed:
            print(f"stale: docs/cli/{name}", file=sys.stderr)
        return 1 if changed else 0
    for name in write():
        print(f"wrote docs/cli/{name}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
