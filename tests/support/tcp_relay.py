"""A TCP relay on a loopback address and port of the test's choosing, to a server on 127.0.0.1: a registry that
answers on the default HTTPS port (``127.x.y.z:443``) without starting it there (binding port 443 needs root, or
``net.ipv4.ip_unprivileged_port_start`` at most 443); or, with port 0, on an ephemeral 127.0.0.1 port, recording
what clients send through it (what a proxy in front of it is told)."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Callable


class TCPRelay:
    """Forwards every connection to ``target_port`` on 127.0.0.1, bytes untouched (TLS passes through)."""

    def __init__(self, target_port: int, port: int = 443, *, record: bool = False) -> None:
        self.target_port = target_port
        self.port = port
        self.address = ""
        self.connections = 0  # accepted so far: how many times a client tried
        self._listener: socket.socket | None = None
        self._sent: bytearray | None = bytearray() if record else None
        self._lock = threading.Lock()

    def start(self) -> TCPRelay:
        if self.port == 0:
            self._listener = socket.create_server(("127.0.0.1", 0))
            self.address, self.port = self._listener.getsockname()[:2]
            threading.Thread(target=self._accept, daemon=True, name="tcp-relay").start()
            return self
        for _ in range(20):  # a random address in 127/8, so that parallel runs do not collide on port 443
            address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, self.port))
            except PermissionError:
                sock.close()
                raise
            except OSError:
                sock.close()
                continue
            sock.listen(64)
            self._listener, self.address = sock, address
            threading.Thread(target=self._accept, daemon=True, name="tcp-relay").start()
            return self
        raise OSError(f"no free loopback address for port {self.port}")

    @property
    def host(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def sent(self) -> bytes:
        """Everything clients sent through the relay (with ``record=True``)."""
        assert self._sent is not None, "a relay made without record=True keeps nothing"
        with self._lock:
            return bytes(self._sent)

    def _record(self, data: bytes) -> None:
        assert self._sent is not None
        with self._lock:
            self._sent += data

    def _accept(self) -> None:
        listener = self._listener  # ``stop`` clears the attribute while this thread may still be here
        assert listener is not None
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            record = self._record if self._sent is not None else None
            for a, b, seen in ((client, upstream, record), (upstream, client, None)):
                threading.Thread(target=_pump, args=(a, b, seen), daemon=True).start()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> TCPRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pump(src: socket.socket, dst: socket.socket, seen: Callable[[bytes], None] | None = None) -> None:
    try:
        while data := src.recv(65536):
            if seen is not None:
                seen(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
