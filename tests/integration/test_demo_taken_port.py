"""scripts/demo with its source port fixed to one that is taken: one error line from the real docker-registry's
failure, exit 1, no traceback (the rest of the demo's port choice: tests/test_demo_ports.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_a_taken_fixed_port_is_one_error_line(silent_port):
    env = {**os.environ, "MIRRORSYNC_DEMO_SOURCE_PORT": str(silent_port)}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"error: port 127.0.0.1:{silent_port} is in use: stop what listens there and try again\n"
    assert done.stdout == ""
