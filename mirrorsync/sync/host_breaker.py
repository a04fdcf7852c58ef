"""A run's verdicts on registry hosts: the ones it gave up on, by its preflight or because they failed too many
images in a row (a circuit breaker), so that no request goes to them any more and the rest of their images fail at
once, saying why, instead of each spending its own retries and timeouts on a host that is gone."""

from __future__ import annotations

import logging
import threading

from ..registry.reference import DEFAULT_REGISTRY, DOCKER_HUB_API_HOST
from .copy_results import CopyResult
from .plan import CopyJob

log = logging.getLogger(__name__)


def api_host(registry: str) -> str:
    """The host a registry's requests go to (Docker Hub's API is not on ``docker.io``)."""
    return DOCKER_HUB_API_HOST if registry == DEFAULT_REGISTRY else registry


def hosts_of(job: CopyJob) -> list[str]:
    """The registry hosts a job reads from and writes to."""
    hosts = [] if job.source_store is not None else [api_host(job.source.registry)]
    return hosts + [api_host(d.mirror.registry) for d in job.destinations if api_host(d.mirror.registry) not in hosts]


class HostBreaker:
    """Gives a host up after ``limit`` images in a row failed to reach it (0: never), or when told
    (``give_up``, the preflight); ``reason(host)`` says why a given-up host's requests are not made."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._given_up: dict[str, str] = {}
        self._in_a_row: dict[str, int] = {}

    def give_up(self, host: str, reason: str) -> None:
        with self._lock:
            self._given_up.setdefault(host, reason)

    def reason(self, host: str) -> str | None:
        with self._lock:
            return self._given_up.get(host)

    def refusal(self, job: CopyJob) -> str | None:
        """Why ``job`` is not tried at all (every mirror it goes to was given up), or None. A job whose source
        was given up is still tried: the requests to the source fail at once with the reason
        (``RegistryConnection.given_up``), and a mirror already holding an image pinned by digest says so."""
        reasons = [self.reason(api_host(d.mirror.registry)) for d in job.destinations]
        return reasons[0] if reasons and all(reasons) else None

    def observe(self, job: CopyJob, result: CopyResult) -> None:
        """Count a finished image: each of its hosts that it could not reach (``result.unreachable_hosts``) one
        more in a row, the others back to none."""
        for host in hosts_of(job):
            with self._lock:
                if host not in result.unreachable_hosts:
                    self._in_a_row[host] = 0
                    continue
                n = self._in_a_row[host] = self._in_a_row.get(host, 0) + 1
                if not self.limit or n < self.limit or host in self._given_up:
                    continue
                self._given_up[host] = f"given up: {host} failed {n} images in a row"
            log.warning("giving up on %s for the rest of the run: it failed %d images in a row (the rest of "
                        "its images are reported failed without being tried; options.giveUpAfter)", host, n)
