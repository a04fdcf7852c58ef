"""The demo's ports (devtools/demo_ports.py): a variable fixes one, a taken default gives way to a free port, and
the manifest is rewritten for the ports the registries got; a taken fixed port is one error line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devtools import demo_ports

ROOT = Path(__file__).resolve().parents[1]


def test_a_variable_fixes_the_port_even_when_taken(silent_port):
    assert demo_ports.chosen_port("source", {"MIRRORSYNC_DEMO_SOURCE_PORT": str(silent_port)}) == silent_port
    for bad in ("abc", "0", "65536", "-1"):
        with pytest.raises(demo_ports.PortError, match="MIRRORSYNC_DEMO_MIRROR_PORT"):
            demo_ports.chosen_port("mirror", {"MIRRORSYNC_DEMO_MIRROR_PORT": bad})


def test_a_taken_default_gives_way(silent_port, monkeypatch):
    monkeypatch.setitem(demo_ports.DEFAULT_PORTS, "source", silent_port)
    assert not demo_ports.is_free(silent_port)
    assert demo_ports.chosen_port("source", {}) is None  # start_registry then picks an ephemeral port


def test_the_manifest_names_the_ports_the_registries_got():
    text = (ROOT / "configs" / "demo.yaml").read_text()
    rewritten = yaml.safe_load(demo_ports.manifest_for(text, {"source": "127.0.0.1:40001",
                                                               "mirror": "127.0.0.1:40002"}))
    assert rewritten["mirrors"] == ["127.0.0.1:40002/mirror"]
    assert set(rewritten["registries"]) == {"127.0.0.1:40001", "127.0.0.1:40002"}
    assert {i["source"].split("/")[0] for i in rewritten["images"]} == {"127.0.0.1:40001"}
    assert "15000" not in demo_ports.manifest_for(text, {"source": "127.0.0.1:1", "mirror": "127.0.0.1:2"})


def test_the_demo_with_a_bad_port_variable_is_one_error_line():
    env = {**os.environ, "MIRRORSYNC_DEMO_MIRROR_PORT": "not-a-port"}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert done.stderr == "error: MIRRORSYNC_DEMO_MIRROR_PORT='not-a-port' is not a port number (1-65535)\n"
