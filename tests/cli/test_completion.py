"""Shell completion (typer's): ``--show-completion`` prints the script for the shell it runs under (bash here);
sourced, it completes commands, options and choices through mirrorsync's ``_MIRRORSYNC_COMPLETE`` protocol. The
zsh side of the protocol answers too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MIRRORSYNC = Path(sys.executable).parent / "mirrorsync"  # the console script, as a user's shell runs it


@pytest.fixture
def env():
    if not MIRRORSYNC.exists():
        pytest.fail(f"{MIRRORSYNC} missing: run scripts/setup (pip install -e .)")
    return {**os.environ, "PATH": f"{MIRRORSYNC.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def _bash_complete(env, *words: str) -> list[str]:
    """COMPREPLY of the sourced completion script for ``words`` (the last one being completed)."""
    script = ("source <(mirrorsync --show-completion)\n"
              f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
              "_mirrorsync_completion mirrorsync\n"
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    done = subprocess.run([shutil.which("bash") or "/bin/bash", "-c", script], capture_output=True, text=True,
                          env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_commands_options_and_choices(env):
    assert _bash_complete(env, "mirrorsync", "ru") == ["run"]
    assert _bash_complete(env, "mirrorsync", "run", "--log-") == ["--log-format"]
    assert _bash_complete(env, "mirrorsync", "run", "--log-format", "") == ["text", "json"]
    assert _bash_complete(env, "mirrorsync", "catalog", "") == ["list"]


def test_zsh_side_of_the_protocol(env):
    done = subprocess.run([str(MIRRORSYNC)], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**env, "_MIRRORSYNC_COMPLETE": "complete_zsh",
                               "_TYPER_COMPLETE_ARGS": "mirrorsync release "})
    assert done.returncode == 0, done.stderr
    assert '"info":"Print a release image' in done.stdout
