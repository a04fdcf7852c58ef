"""How ``--help`` lays out a command's parameters: a word for what a value is (``FILE``, ``N``, ``text|json``),
never a Python type. Flags take no value, so they show none (typer would print ``<bool>``); an argument's name is
already its word (``MANIFEST``), so it gets no type column (typer would print ``<file>`` or ``<list[Path]>``)."""

from __future__ import annotations

from typer.core import TyperArgument, TyperCommand, TyperOption


class _PlainArgument(TyperArgument):
    def display_type_rich(self, ctx) -> None:
        return None


class PlainHelpCommand(TyperCommand):
    """A command whose help names no Python type (see the module's text)."""

    def get_params(self, ctx):
        return plain_params(super().get_params(ctx))


def plain_params(params: list) -> list:
    """``params`` laid out for help as the module's text says (flags without a type, arguments by their word)."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag:
            param.metavar = ""
        elif isinstance(param, TyperArgument) and not isinstance(param, _PlainArgument):
            if param.metavar is None:
                param.metavar = param.name.upper()
            param.__class__ = _PlainArgument
    return params


def untyped_options(command) -> list[str]:
    """The options of a click ``command`` that take a value and have no metavar of their own (what --help would
    show as a Python type); the tests keep this empty."""
    return [opt for param in command.params if isinstance(param, TyperOption) and not param.is_flag
            and param.metavar is None for opt in param.opts[:1]]
