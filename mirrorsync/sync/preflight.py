"""Before anything is copied, every registry a run reads from or writes to is asked ``GET /v2/`` with the
credentials it will get (``RegistryConnection.check_access``): all hosts at once, each with one budget in time
shared by its checks (no retry starts after ``timeout`` seconds, so a host that accepts connections and never
answers costs at most twice the timeout, once, not once per image). A mirror must take the credentials of its
namespace (``host/ns``, else ``host``; with keys only below it, ``host/ns/app``, its answer alone); a source is checked for an answer and trust only, as the credentials it
is read with are per repository (a wrong one fails the images it is for, its error naming the entry)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

from ..errors import MirrorsyncError, describe
from ..registry import retry
from .engines import Clients
from .host_breaker import api_host
from .manifest import Mirror

MOST_AT_ONCE = 16


def check(clients: Clients, mirrors: Iterable[Mirror], sources: Iterable[str], *,
          timeout: float) -> dict[str, str]:
    """The hosts that failed their check, each with its error (which says what fixes it); the others answered."""
    checks: dict[str, list[tuple[str | None, bool]]] = {}  # host -> (repository, login), mirrors first
    for mirror in mirrors:
        checks.setdefault(mirror.registry, []).append((mirror.namespace or None, True))
    for host in sources:
        checks.setdefault(host, []).append((None, False))
    if not checks:
        return {}

    def one(host: str) -> str | None:
        with retry.retries_until(time.monotonic() + timeout):
            try:
                client = clients.get(host)
                for repository, login in dict.fromkeys(checks[host]):
                    client.check_access(repository, login=login)
            except MirrorsyncError as exc:
                return describe(exc)
        return None

    hosts = sorted(checks)
    with ThreadPoolExecutor(max_workers=min(MOST_AT_ONCE, len(hosts)), thread_name_prefix="preflight") as pool:
        verdicts = dict(zip(hosts, pool.map(one, hosts)))
    return {api_host(host): error for host, error in verdicts.items() if error is not None}
