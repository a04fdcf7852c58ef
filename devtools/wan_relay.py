"""A TCP relay on 127.0.0.1 that makes a local server look a WAN away: latency per direction and a shared
bandwidth cap, for ``scripts/bench --profile wan`` (kernel traffic shaping, ``tc netem``, needs privileges these
machines do not give).

Clients are pointed at the relay's port as if it were the server (HTTP proxy variables do not work here: Go's and
httpx's proxy handling skip loopback hosts), and every connection is forwarded to the target port on 127.0.0.1:

- a connection's first byte towards the server leaves one round trip after the connection was accepted (the TCP
  handshake a WAN client pays before it can send);
- every chunk, in each direction, is delivered half a round trip after the relay read it, in order, with
  connections independent of each other (one slow connection does not hold up another);
- all connections share one bandwidth budget per direction (a token bucket on a virtual clock: a chunk leaves when
  the link would have finished sending the chunks before it), like one access link of ``rate`` bits per second;
- each connection buffers at most ``_QUEUE_CHUNKS`` chunks per direction, so a sender is slowed by TCP flow control
  as on a real link, not absorbed by the relay.

Not emulated: TLS handshakes (the bench's registries speak plain HTTP), loss, jitter.

Run as a process, ``python -m devtools.wan_relay --target PORT [--rtt-ms 40] [--mbit 200]``: it prints one JSON
line ``{"port": N, "control": M}`` and serves until killed. Connecting to the control port returns a JSON line of
counters (connections accepted, bytes each way) and closes; the bench reads the relay's CPU from ``/proc``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

_CHUNK = 64 * 1024
_QUEUE_CHUNKS = 32


class Link:
    """One direction of the shared access link: ``rate`` bytes per second, bursts of at most ``burst`` bytes."""

    def __init__(self, rate: float, burst: int = 8 * _CHUNK) -> None:
        self.rate = rate
        self.burst = burst
        self._free_at = 0.0  # when the link has sent everything handed to it so far (monotonic seconds)
        self.bytes = 0

    def reserve(self, n: int, now: float) -> float:
        """Seconds to wait before ``n`` bytes may leave: the time the bytes handed over before them take."""
        self.bytes += n
        if self.rate <= 0:
            return 0.0
        start = max(self._free_at, now - self.burst / self.rate)
        self._free_at = start + n / self.rate
        return max(0.0, self._free_at - now)


class Relay:
    def __init__(self, target_port: int, rtt: float, rate_bytes: float) -> None:
        self.target_port = target_port
        self.one_way = rtt / 2
        self.rtt = rtt
        self.up = Link(rate_bytes)  # client -> server
        self.down = Link(rate_bytes)  # server -> client
        self.connections = 0

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        accepted = time.monotonic()
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self._direction(client_r, server_w, self.up, not_before=accepted + self.rtt),
                             self._direction(server_r, client_w, self.down, not_before=0.0))

    async def _direction(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link,
                         not_before: float) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUE_CHUNKS)

        async def read() -> None:
            try:
                while data := await reader.read(_CHUNK):
                    await queue.put((max(time.monotonic(), not_before) + self.one_way, data))
            except OSError:
                pass
            await queue.put((0.0, b""))

        async def write() -> None:
            try:
                while True:
                    due, data = await queue.get()
                    if not data:
                        break
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    wait = link.reserve(len(data), time.monotonic())
                    if wait > 0:
                        await asyncio.sleep(wait)
                    writer.write(data)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            except OSError:
                pass
            finally:
                reader_task.cancel()
                writer.close()

        reader_task = asyncio.ensure_future(read())
        await write()

    def counters(self) -> dict[str, int]:
        return {"connections": self.connections, "bytes_up": self.up.bytes, "bytes_down": self.down.bytes}


async def serve(relay: Relay, port: int = 0) -> None:
    server = await asyncio.start_server(relay.handle, "127.0.0.1", port)

    async def control(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(json.dumps(relay.counters()).encode() + b"\n")
        await w.drain()
        w.close()

    control_server = await asyncio.start_server(control, "127.0.0.1", 0)
    print(json.dumps({"port": server.sockets[0].getsockname()[1],
                      "control": control_server.sockets[0].getsockname()[1]}), flush=True)
    async with server, control_server:
        await asyncio.gather(server.serve_forever(), control_server.serve_forever())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=int, required=True, help="port of the server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: an ephemeral one)")
    parser.add_argument("--rtt-ms", type=float, default=40.0, help="round-trip time to emulate (default 40)")
    parser.add_argument("--mbit", type=float, default=200.0,
                        help="shared bandwidth per direction in Mbit/s, 0 for none (default 200)")
    args = parser.parse_args(argv)
    relay = Relay(args.target, args.rtt_ms / 1000, args.mbit * 1e6 / 8)
    try:
        asyncio.run(serve(relay, args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
