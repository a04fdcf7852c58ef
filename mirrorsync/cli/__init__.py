"""The ``mirrorsync`` command line (typer): thin over the library."""

from .app import app, main

__all__ = ["app", "main"]
