"""``mirrorsync --version``: the installed package's version (its metadata), and where it runs from a git checkout
(an editable install of a clone), what ``git describe`` says of that checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGE = "mirrorsync"


def package_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def git_describe(root: Path | None = None) -> str | None:
    """``git describe --tags --always --dirty`` of the checkout the package runs from, or None.

    Only when the package's parent directory is a git checkout holding this project (a pyproject.toml beside a
    .git): an installed wheel never calls git. Bounded (2 s), with no pager, prompt or user config involved; any
    failure is simply no answer."""
    root = root or Path(__file__).resolve().parents[2]
    git = shutil.which("git")
    if git is None or not (root / ".git").exists() or not (root / "pyproject.toml").is_file():
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", GIT_OPTIONAL_LOCKS="0")
    try:
        done = subprocess.run([git, "-C", str(root), "describe", "--tags", "--always", "--dirty"], env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def version_line() -> str:
    described = git_describe()
    return f"{PACKAGE} {package_version()}" + (f" (git {described})" if described else "")
