"""``mirrorsync --version``: the package metadata's version, and git describe only from a git checkout."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from mirrorsync.cli import version


def test_version_prints_the_package_metadata_version():
    done = subprocess.run([sys.executable, "-m", "mirrorsync", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith(f"mirrorsync {metadata.version('mirrorsync')}")
    assert len(done.stdout.splitlines()) == 1 and done.stderr == ""


def test_git_describe_only_in_a_checkout_of_the_project(tmp_path):
    assert version.git_describe(tmp_path) is None  # no .git, no pyproject.toml: git never runs
    (tmp_path / ".git").mkdir()
    assert version.git_describe(tmp_path) is None  # a .git but not this project's layout
    repo = tmp_path / "clone"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    subprocess.run([*git, "tag", "v9.9.9"], check=True)
    assert version.git_describe(repo) == "v9.9.9"
    (repo / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    assert version.git_describe(repo) == "v9.9.9-dirty"


def test_version_line_without_git(monkeypatch):
    monkeypatch.setattr(version, "git_describe", lambda root=None: None)
    assert version.version_line() == f"mirrorsync {metadata.version('mirrorsync')}"
