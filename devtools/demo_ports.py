"""The demo's registry ports: settable, else the ones configs/demo.yaml names when they are free, else any free
one; and the demo manifest rewritten for the ports it got.

``MIRRORSYNC_DEMO_SOURCE_PORT`` / ``MIRRORSYNC_DEMO_MIRROR_PORT`` fix a port (one that is taken is then an error
line, not another port). Unset, 15000 and 15001 are used when free (the manifest in configs/ then runs as it is),
otherwise an ephemeral port, and the demo runs a copy of the manifest naming it.
"""

from __future__ import annotations

import os
import socket

DEFAULT_PORTS = {"source": 15000, "mirror": 15001}  # what configs/demo.yaml names
PORT_ENV = {"source": "MIRRORSYNC_DEMO_SOURCE_PORT", "mirror": "MIRRORSYNC_DEMO_MIRROR_PORT"}


class PortError(Exception):
    """A port variable that is no port number."""


def is_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` could be listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def chosen_port(role: str, environ: dict[str, str] | os._Environ = os.environ) -> int | None:
    """The port for the ``role`` registry (``source``, ``mirror``): its variable's, else the default when free,
    else None (start_registry then picks an ephemeral one)."""
    name = PORT_ENV[role]
    text = environ.get(name, "").strip()
    if text:
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise PortError(f"{name}={text!r} is not a port number (1-65535)")
        return int(text)
    default = DEFAULT_PORTS[role]
    return default if is_free(default) else None


def manifest_for(text: str, hosts: dict[str, str]) -> str:
    """configs/demo.yaml's ``text`` naming the registries at ``hosts`` (role -> ``127.0.0.1:PORT``)."""
    for role, host in hosts.items():
        text = text.replace(f"127.0.0.1:{DEFAULT_PORTS[role]}", host)
    return text
