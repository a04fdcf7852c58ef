"""Progress as a person at a terminal sees it, and as a CronJob's log keeps it: the real ``mirrorsync run`` on a
pseudo-terminal (its output played into a terminal emulator, pyte, for what stays on the screen) and on a pipe,
copying a 16 MiB layer through the bench's WAN relay capped at 40 Mbit/s, so that the copy takes seconds."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte
import pytest

from support.cli import write_manifest
from support.fault_proxy import Rule

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COLS, ROWS = 150, 50
BIG = 16 << 20


@pytest.fixture
def slow_source(registry):
    """The registry through a relay capped at 40 Mbit/s: ``host`` (``127.0.0.1:PORT``)."""
    proc = subprocess.Popen([sys.executable, "-m", "devtools.wan_relay", "--target", str(registry.port),
                             "--rtt-ms", "2", "--mbit", "40"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        yield f"127.0.0.1:{json.loads(proc.stdout.readline())['port']}"
    finally:
        proc.terminate()
        proc.wait()


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "COLUMNS",
                                                             "LINES", "NO_COLOR")}
    return {**env, "TERM": "xterm-256color", "MIRRORSYNC_RETRY_WAIT": "0.01", **extra}


class Terminal:
    """``mirrorsync ARGS`` with stdout and stderr on a pseudo-terminal of COLS x ROWS; ``output`` is every byte it
    wrote, ``screen`` what a terminal shows after them."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.proc = subprocess.Popen([sys.executable, "-m", "mirrorsync", *args], stdin=subprocess.DEVNULL,
                                     stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.master = master
        self.output = b""

    def read_until(self, pattern: str, limit: float = 120) -> bool:
        """Read until the output matches ``pattern`` or the process ends; whether it matched."""
        deadline = time.monotonic() + limit
        while not re.search(pattern, self.text):
            if time.monotonic() > deadline or not self._read(deadline - time.monotonic()):
                return False
        return True

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], max(wait, 0))
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the other side is closed
            return False
        self.output += data
        return bool(data)

    def finish(self, limit: float = 120) -> int:
        deadline = time.monotonic() + limit
        while self._read(deadline - time.monotonic()):
            pass
        code = self.proc.wait(max(deadline - time.monotonic(), 1))
        os.close(self.master)
        return code

    @property
    def text(self) -> str:
        """The output without its colours and cursor movements."""
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self.output.decode("utf-8", "replace"))

    @property
    def screen(self) -> list[str]:
        screen = pyte.Screen(COLS, ROWS)
        pyte.ByteStream(screen).feed(self.output)
        return [line.rstrip() for line in screen.display]


def manifest(tmp_path: Path, source_host: str, mirrors: list[str], images: list[dict], hosts: list[str]) -> Path:
    return write_manifest(tmp_path / "m.yaml", mirrors=mirrors, images=images,
                          registries={h: {"tlsVerify": False} for h in hosts}, options={"retries": 1})


def test_a_terminal_shows_bytes_and_rate_in_flight_and_keeps_the_failed_and_partial_lines(
        tmp_path, registry, mirror_registry, slow_source, seed, unique_repo, proxies):
    big = seed(registry, unique_repo("big"), "v1", arches=("amd64",), layers=1, layer_size=BIG, seed=7)
    small = seed(registry, unique_repo("small"), "v1", arches=("amd64",), layers=1, seed=8)
    # a second mirror that answers its preflight, then resets the pushes of one repository: that image is partial
    broken = proxies(mirror_registry, Rule("reset", kinds=["upload-start", "manifest-put"], repo="small"))
    path = manifest(tmp_path, slow_source, [f"{mirror_registry.host}/a", f"{broken.host}/b"],
                    [{"source": f"{slow_source}/{big.repository}:v1"},
                     {"source": f"{slow_source}/{small.repository}:v1"},
                     {"source": f"{slow_source}/{big.repository}:no-such-tag"}],
                    [slow_source, mirror_registry.host, broken.host])
    term = Terminal("run", str(path), "--output-dir", str(tmp_path / "out"), env=environment())
    # while the big layer moves: its bytes of the total and a rate, drawn by the live display
    assert term.read_until(r"\d+\.\d/16\.8 MB .*\d+\.\d MB/s"), term.output.decode(errors="replace")[-3000:]
    code = term.finish()
    assert code == 1
    screen = term.screen
    text = "\n".join(screen)
    failed = [line for line in screen if line.startswith("[") and " failed " in line]
    partial = [line for line in screen if line.startswith("[") and " partial " in line]
    assert len(failed) == 1 and "no-such-tag" in failed[0], text
    assert len(partial) == 1 and small.repository in partial[0], text
    assert any(line.startswith("PartiallyFailed: 1 copied, 0 up to date, 1 partial, 1 failed") for line in screen), text
    assert any(re.search(r"3/3 images", line) for line in screen), text  # the overall bar's last state


def test_a_signal_message_gets_a_line_of_its_own_on_a_terminal(tmp_path, registry, mirror_registry, slow_source,
                                                                seed, unique_repo):
    big = seed(registry, unique_repo("big"), "v1", arches=("amd64",), layers=1, layer_size=BIG, seed=9)
    path = manifest(tmp_path, slow_source, [f"{mirror_registry.host}/s"],
                    [{"source": f"{slow_source}/{big.repository}:v1"}], [slow_source, mirror_registry.host])
    term = Terminal("run", str(path), "--output-dir", str(tmp_path / "out"), env=environment())
    assert term.read_until(r"\d+\.\d/16\.8 MB"), term.output.decode(errors="replace")[-3000:]
    term.proc.send_signal(signal.SIGINT)
    term.finish()
    screen = term.screen
    assert any(line.startswith("received SIGINT: finishing images in flight") for line in screen), "\n".join(screen)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_without_a_terminal_a_heartbeat_line_shows_life(tmp_path, registry, mirror_registry, slow_source, seed,
                                                        unique_repo, log_format):
    big = seed(registry, unique_repo("big"), "v1", arches=("amd64",), layers=1, layer_size=BIG, seed=10)
    path = manifest(tmp_path, slow_source, [f"{mirror_registry.host}/h"],
                    [{"source": f"{slow_source}/{big.repository}:v1"}], [slow_source, mirror_registry.host])
    proc = subprocess.run([sys.executable, "-m", "mirrorsync", "run", str(path), "--output-dir",
                           str(tmp_path / "out"), "--log-format", log_format], capture_output=True, text=True,
                          env=environment(MIRRORSYNC_HEARTBEAT="0.5"), stdin=subprocess.DEVNULL, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stderr  # no terminal, no drawing
    if log_format == "json":
        beats = [json.loads(line) for line in proc.stderr.splitlines() if '"heartbeat"' in line]
        assert beats and all(b["total"] == 1 and b["bytes"] <= BIG + (1 << 20) for b in beats), proc.stderr
        assert any(0 < b["bytes"] for b in beats) and all("bytesPerSecond" in b for b in beats)
    else:
        beats = [line for line in proc.stderr.splitlines() if line.startswith("... ")]
        assert beats and all(re.search(r"\d/1 images done, \d in flight, .* moved, .*/s$", b) for b in beats), \
            proc.stderr
        done = [line for line in proc.stderr.splitlines() if line.startswith("[1/1] copied")]
        assert len(done) == 1, proc.stderr

    quiet = subprocess.run([sys.executable, "-m", "mirrorsync", "run", str(path), "--output-dir",
                            str(tmp_path / "out"), "-q"], capture_output=True, text=True,
                           env=environment(MIRRORSYNC_HEARTBEAT="0.5"), stdin=subprocess.DEVNULL, timeout=180)
    assert quiet.returncode == 0
    assert quiet.stderr.splitlines()[0].startswith("Succeeded: 0 copied, 1 up to date"), quiet.stderr
