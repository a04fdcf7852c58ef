"""docs/cli/ is the command line's own reference (devtools/cli_docs.py): this fails when a page is stale, missing
or names a command that is gone, so a change to a command's options or help text comes with its page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devtools import cli_docs

ROOT = Path(__file__).resolve().parents[1]


def test_the_pages_are_the_command_lines():
    stale = cli_docs.stale()
    assert stale == [], (f"docs/cli is stale ({', '.join(stale)}): run .venv/bin/python devtools/cli_docs.py "
                         "and commit docs/cli/")


def test_one_page_per_command_each_with_every_visible_option():
    pages = cli_docs.pages()
    assert {"mirrorsync.md", "run.md", "plan.md", "convert.md", "release-info.md", "catalog-list.md"} <= set(pages)
    assert "| `--blob-concurrency` | `N (1 <= x <= 256)` |" in pages["run.md"]
    assert "| `--offline` |" in pages["plan.md"]
    assert "| `-o`" not in pages["convert.md"]  # the deprecated short option is hidden, as in --help
    assert "[list](catalog-list.md)" in pages["catalog.md"]


def test_the_check_finds_a_stale_and_an_extra_page(tmp_path):
    cli_docs.write(tmp_path)
    assert cli_docs.stale(tmp_path) == []
    (tmp_path / "run.md").write_text("old\n")
    (tmp_path / "gone.md").write_text("a command that was removed\n")
    assert cli_docs.stale(tmp_path) == ["gone.md", "run.md"]
    assert sorted(cli_docs.write(tmp_path)) == ["gone.md", "run.md"]
    assert not (tmp_path / "gone.md").exists() and cli_docs.stale(tmp_path) == []


def test_the_script_checks_without_writing():
    done = subprocess.run([sys.executable, str(ROOT / "devtools" / "cli_docs.py"), "--check"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
