"""The bench's WAN relay (devtools/wan_relay.py) really delays and caps what passes through it: lower bounds only,
which a busy machine cannot break (it only makes things slower), and bytes passed through unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devtools.wan_relay import Link

ROOT = Path(__file__).resolve().parents[1]
RTT = 0.2
MBIT = 16.0


@pytest.fixture
def relayed(registry):
    proc = subprocess.Popen([sys.executable, "-m", "devtools.wan_relay", "--target", str(registry.port),
                             "--rtt-ms", str(RTT * 1000), "--mbit", str(MBIT)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    try:
        ports = json.loads(proc.stdout.readline())
        yield f"http://127.0.0.1:{ports['port']}", ports["control"]
    finally:
        proc.terminate()
        proc.wait()


def test_round_trips_and_bandwidth_are_emulated(registry, relayed):
    url, control = relayed
    blob = os.urandom(2_000_000)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with httpx.Client(base_url=registry.url) as direct:  # pushed straight to the registry, read through the relay
        location = direct.post("/v2/relay/test/blobs/uploads/").headers["Location"]
        direct.put(location + ("&" if "?" in location else "?") + f"digest={digest}", content=blob).raise_for_status()
    with httpx.Client(base_url=url, timeout=60) as client:
        start = time.monotonic()
        client.get("/v2/")
        first = time.monotonic() - start
        start = time.monotonic()
        client.get("/v2/")
        again = time.monotonic() - start
        start = time.monotonic()
        got = client.get(f"/v2/relay/test/blobs/{digest}").content
        transfer = time.monotonic() - start
    assert first >= 2 * RTT  # the handshake's round trip, then the request's
    assert again >= RTT  # a kept connection: one round trip
    assert got == blob
    # 1 s at 16 Mbit/s, less what an idle link may send at once
    assert transfer >= RTT + (len(blob) - Link(1).burst) * 8 / (MBIT * 1e6)
    with socket.create_connection(("127.0.0.1", control)) as sock:
        counters = json.loads(sock.makefile().readline())
    assert counters["connections"] == 1 and counters["bytes_down"] > len(blob)
