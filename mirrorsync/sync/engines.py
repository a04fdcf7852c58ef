"""Copy engines: the native one (httpx, ``copy.py``) and, beside it, the skopeo one. One small contract.

The runner plans, schedules, reports and writes outputs; an engine only copies one planned image to its mirrors
and says what happened, as a ``CopyResult``.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Protocol

from ..oci.store import ContentStore
from ..registry import auth
from ..registry.client import RegistryClient
from ..registry.proxies import ProxySettings
from ..registry.reference import Reference
from ..registry.retry import RetryPolicy
from ..registry.web import WebReader
from . import pacing
from .companions import CompanionSpec
from .copy import Copier, CopyResult, Target
from .host_breaker import HostBreaker, api_host
from .image_progress import ImageProgress
from .manifest import SyncManifest
from .plan import CopyJob
from .through_mirrors import SourceThroughMirrors


class Engine(Protocol):
    name: str

    def copy(self, job: CopyJob, progress: ImageProgress | None = None) -> CopyResult:
        """Copy one image to every destination of the job; never raises for a failed copy (it is in the result).
        ``progress``, where the engine can say, is told the image's bytes to move and moved."""

    def close(self) -> None: ...


class Clients:
    """One pooled ``RegistryClient`` per registry host, configured from the manifest's registry settings."""

    def __init__(self, manifest: SyncManifest, *, auth_file: str | None = None, policy: RetryPolicy,
                 timeout: float = 60.0, max_connections: int = 32) -> None:
        self.manifest = manifest
        self.auth_file = auth_file
        self.policy = policy
        self.timeout = timeout
        self.max_connections = max_connections
        self.proxies = ProxySettings.from_environ()  # once for the run: an unusable proxy fails it here
        self._clients: dict[str, RegistryClient] = {}
        self._web: WebReader | None = None
        self._lock = threading.Lock()
        # the hosts this run gave up on (its preflight, the circuit breaker): no request goes to them any more
        self.breaker = HostBreaker(manifest.options.give_up_after)

    @classmethod
    def for_run(cls, manifest: SyncManifest, *, auth_file: str | None = None, retries: int | None = None,
                timeout: float | None = None, concurrency: int | None = None,
                blob_concurrency: int | None = None) -> Clients:
        """The clients of a run of ``manifest``: its options, where the arguments do not override them; enough
        pooled connections for every image and blob in flight."""
        opts = manifest.options
        retries = opts.retries if retries is None else retries
        concurrency = opts.concurrency if concurrency is None else concurrency
        blob_concurrency = opts.blob_concurrency if blob_concurrency is None else blob_concurrency
        return cls(manifest, auth_file=auth_file, policy=RetryPolicy.from_retries(retries),
                   timeout=opts.timeout if timeout is None else timeout,
                   max_connections=max(8, 2 * (pacing.most_workers(concurrency) + blob_concurrency)))

    def get(self, registry: str) -> RegistryClient:
        """The client of ``registry``; its requests fail at once once the run gave the host up (``breaker``)."""
        with self._lock:
            client = self._clients.get(registry)
            if client is None:
                settings = self.manifest.settings_for(registry)
                # per repository, most specific auth file key first (auth.auth_keys)
                creds = auth.credentials_for(registry, settings.auth_file or self.auth_file)
                creds(None)  # now: a broken auth file is bad input before any request, not a failure of one
                client = RegistryClient(api_host(registry), settings=settings, credentials=creds,
                                        policy=self.policy, timeout=self.timeout,
                                        max_connections=self.max_connections,
                                        settings_for=self.manifest.settings_for, proxies=self.proxies)
                client.given_up = functools.partial(self.breaker.reason, api_host(registry))
                self._clients[registry] = client
            return client

    def list_tags(self, source: Reference) -> list[str]:
        return self.get(source.registry).list_tags(source.repository)

    @property
    def web(self) -> WebReader:
        """The run's reads beside the registries (an update graph, a signature store): the same registry
        settings per host, proxies, retries and timeout."""
        with self._lock:
            if self._web is None:
                self._web = WebReader(settings_for=self.manifest.settings_for, policy=self.policy,
                                      timeout=self.timeout, proxies=self.proxies)
            return self._web

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()
            web, self._web = self._web, None
        if web is not None:
            web.close()


SourceFor = Callable[[CopyJob], tuple[ContentStore, str]]


def source_of(job: CopyJob, clients: Clients, sources: SourceThroughMirrors | None) -> tuple[ContentStore, str]:
    """Where a job is read from when it goes registry to registry: its own store (an ``oci://`` catalog), the
    source mirrors (by the source's name), or its source registry."""
    if job.source_store is not None:
        return job.source_store, job.source.repository
    if sources is not None:
        return sources, job.source.name
    return clients.get(job.source.registry), job.source.repository


TargetsFor = Callable[[CopyJob], list[Target]]


def registry_source(clients: Clients, sources: SourceThroughMirrors | None = None) -> SourceFor:
    """Where a job is read from by default (``source_of``): its own store, the source mirrors, or its registry."""
    def source_for(job: CopyJob) -> tuple[ContentStore, str]:
        return source_of(job, clients, sources)
    return source_for


class NativeEngine:
    """Copies over the distribution API with mirrorsync's own client: fan-out, mounts, no-op fast path.

    By default a job is read from its source registry and written to its mirrors; ``source_for``/``targets_for``
    point it at other stores instead (an OCI layout when exporting or importing), with the same copy algorithm.
    ``sources``: a store named by the source repositories (``host/path``) that every source registry is read
    through instead (the source mirrors, :mod:`.through_mirrors`).
    """

    name = "native"

    def __init__(self, clients: Clients, *, blob_concurrency: int = 4, source_for: SourceFor | None = None,
                 targets_for: TargetsFor | None = None, sources: SourceThroughMirrors | None = None,
                 held: Iterable[tuple[str, str, str]] = ()) -> None:
        """``held``: (registry, repository, digest) a site's report says its mirrors hold, where a blob another
        repository there lacks is mounted from (an import of an export made ``--since`` that report)."""
        self.clients = clients
        self.sources = sources
        self._pool = ThreadPoolExecutor(max_workers=blob_concurrency, thread_name_prefix="blob")
        self.copier = Copier(self._pool, policy=clients.policy)
        for registry, repo, digest in held:
            self.copier.ledger.said_to_hold(clients.get(registry), repo, digest)
        self._registry_source = registry_source(clients, sources)
        self.source_for = source_for or self._registry_source
        self.targets_for = targets_for or self._registry_targets

    def source_registries(self, jobs: list[CopyJob]) -> list[str]:
        """The registries the jobs are read from (none when they are read from another store)."""
        if self.source_for != self._registry_source or self.sources is not None:
            return []
        return list(dict.fromkeys(job.source.registry for job in jobs if job.source_store is None))

    def _registry_targets(self, job: CopyJob) -> list[Target]:
        return [Target(self.clients.get(d.mirror.registry), d.repository, d.mirror.location)
                for d in job.destinations]

    def copy(self, job: CopyJob, progress: ImageProgress | None = None) -> CopyResult:
        source, source_repo = self.source_for(job)
        spec = job.spec
        result = self.copier.copy(source, source_repo, job.ref, self.targets_for(job), tag=job.push_tag,
                                  platforms=spec.platform_filter,
                                  companions=CompanionSpec(spec.signatures, spec.referrers, spec.referrer_types,
                                                           best_effort=spec.companions_best_effort),
                                  progress=progress)
        if isinstance(source, SourceThroughMirrors):
            result.read_from = source.read_from(source_repo, job.ref)
        return result

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
