"""Fixtures that start real services: docker-registry variants, a token server, and the real skopeo.

Registries are session-scoped and shared: tests keep out of each other's way by using their own repository
names (``unique_repo``), not fresh registries. A test that needs a registry of its own (deleting, listing the
catalog, stopping it) asks ``make_registry``. Everything started here is stopped at the end, also when tests
fail; ``devtools.devregistry`` additionally ties each registry's life to the test process.

Nothing is skipped when a tool is missing: the fixture fails and says to run ``scripts/test``.
"""

from __future__ import annotations

import re
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from devtools.devregistry import LocalRegistry, start_registry
from devtools.samples import Kind, PushedImage, SamplePusher, push_artifact, push_image

# pytest's default import mode puts tests/ on sys.path already; other modes (importlib) do not.
_TESTS_DIR = str(Path(__file__).parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)
from support.skopeo import Skopeo, registry_opts  # noqa: E402
from support.token_server import TokenServer, TokenUser  # noqa: E402

HTPASSWD_USER = "mirror-user"
HTPASSWD_PASSWORD = "mirror-password"

# Users of the token server behind ``token_registry``; ``token_registry`` itself carries alice's credentials.
TOKEN_USERS = {
    "alice": TokenUser("alice-password", {"*": {"*"}}, catalog=True),
    "reader": TokenUser("reader-password", {"*": {"pull"}}),
    "scoped": TokenUser("scoped-password", {"scoped/*": {"pull", "push"}}),
}

_TOOLS = {"docker-registry": "docker-registry", "skopeo": "skopeo", "openssl": "openssl",
          "htpasswd": "apache2-utils", "tinyproxy": "tinyproxy"}


def require_tools(*tools: str) -> None:
    """Fail (never skip) the calling test if a tool is not installed."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        packages = " ".join(sorted({_TOOLS.get(t, t) for t in missing}))
        pytest.fail(f"{', '.join(missing)} not installed: run scripts/test, which installs them "
                    f"(Debian packages: {packages})", pytrace=False)


class _Registries:
    """Starts registries in their own directories and stops every one of them in ``stop_all``."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._started: list[LocalRegistry] = []

    def start(self, name: str = "registry", **kwargs: Any) -> LocalRegistry:
        require_tools("docker-registry", "openssl", *(["htpasswd"] if kwargs.get("htpasswd") else []))
        registry = start_registry(self._tmp.mktemp(name), **kwargs)
        self._started.append(registry)
        return registry

    def stop_all(self) -> None:
        for registry in self._started:
            registry.stop()
        self._started.clear()


@pytest.fixture(scope="session")
def _session_registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Registries]:
    registries = _Registries(tmp_path_factory)
    yield registries
    registries.stop_all()


@pytest.fixture
def make_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LocalRegistry]]:
    """``make_registry(name="registry", **start_registry_kwargs)``: a registry of the test's own, stopped after it."""
    registries = _Registries(tmp_path_factory)
    yield registries.start
    registries.stop_all()


@pytest.fixture(scope="session")
def registry(_session_registries: _Registries) -> LocalRegistry:
    """A plain-HTTP registry without auth, shared by the session."""
    return _session_registries.start("registry")


@pytest.fixture(scope="session")
def mirror_registry(_session_registries: _Registries) -> LocalRegistry:
    """A second plain-HTTP registry without auth, to copy to."""
    return _session_registries.start("mirror")


@pytest.fixture(scope="session")
def tls_registry(_session_registries: _Registries) -> LocalRegistry:
    """An HTTPS registry; trust ``.ca_cert`` (or skopeo ``--cert-dir .cert_dir``)."""
    return _session_registries.start("tls", tls=True)


@pytest.fixture(scope="session")
def mtls_registry(_session_registries: _Registries) -> LocalRegistry:
    """An HTTPS registry that requires a client certificate: ``.client_cert`` (also in ``.cert_dir``)."""
    return _session_registries.start("mtls", client_auth=True)


@pytest.fixture(scope="session")
def htpasswd_registry(_session_registries: _Registries) -> LocalRegistry:
    """A plain-HTTP registry with Basic auth; credentials in ``.username``/``.password``."""
    return _session_registries.start("htpasswd", htpasswd=(HTPASSWD_USER, HTPASSWD_PASSWORD))


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    """The token server behind ``token_registry``, users ``TOKEN_USERS``; check ``.issued``/``.requests``."""
    require_tools("openssl")
    server = TokenServer(tmp_path_factory.mktemp("token-server"), TOKEN_USERS).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_users() -> dict[str, TokenUser]:
    """The token server's users: ``alice`` may do anything, ``reader`` only pull, ``scoped`` only ``scoped/*``."""
    return TOKEN_USERS


@pytest.fixture(scope="session")
def token_registry(_session_registries: _Registries, token_server: TokenServer) -> LocalRegistry:
    """A plain-HTTP registry with Docker token auth via ``token_server``; ``.username``/``.password`` are alice's."""
    registry = _session_registries.start("token", token=token_server.auth_config)
    registry.username, registry.password = "alice", TOKEN_USERS["alice"].password
    return registry


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening (it was free a moment ago; nothing reserves it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A 127.0.0.1 port that is taken: its kernel completes every connection (the listen backlog) while nobody
    reads or answers, so a request there waits for its timeout, and nothing else can listen there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


_repo_counter = count(1)


@pytest.fixture
def unique_repo(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique_repo("src")`` -> a repository name no other test in the session uses, e.g. ``t/test-x-src-7``."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60].strip("-") or "test"

    def make(suffix: str = "") -> str:
        suffix = re.sub(r"[^a-z0-9]+", "-", suffix.lower()).strip("-")
        return f"t/{base}{'-' + suffix if suffix else ''}-{next(_repo_counter)}"

    return make


@pytest.fixture
def pusher_for() -> Iterator[Callable[..., SamplePusher]]:
    """``pusher_for(registry, username=None, password=None)``: a ``SamplePusher`` set up for a LocalRegistry.

    Credentials default to the registry's own; pushers are closed after the test.
    """
    pushers: list[SamplePusher] = []

    def make(registry: LocalRegistry, username: str | None = None, password: str | None = None) -> SamplePusher:
        client = (registry.client_cert.cert, registry.client_cert.key) if registry.client_cert else None
        pusher = SamplePusher(registry.url, ca_cert=registry.ca_cert, client_cert=client,
                              username=username or registry.username,
                              password=password if username else registry.password)
        pushers.append(pusher)
        return pusher

    yield make
    for pusher in pushers:
        pusher.close()


@pytest.fixture
def seed(pusher_for: Callable[..., SamplePusher], unique_repo: Callable[[str], str]) -> Callable[..., PushedImage]:
    """Push a sample image: ``seed(registry, repository=None, tag="latest", *, kind="oci-index",
    arches=("amd64", "arm64"), layers=2, layer_size=1024, seed=0, artifact=False)``.

    ``repository=None`` picks a ``unique_repo()``. With ``artifact=True`` an untagged OCI artifact whose subject
    is the image is pushed too and returned instead (its ``.subject`` is the image digest).
    """
    def push(registry: LocalRegistry, repository: str | None = None, tag: str | None = "latest", *,
             kind: Kind = "oci-index", arches: tuple[str, ...] = ("amd64", "arm64"), layers: int = 2,
             layer_size: int = 1024, seed: int = 0, artifact: bool = False) -> PushedImage:
        pusher = pusher_for(registry)
        image = push_image(pusher, repository or unique_repo(kind), tag, kind=kind, arches=arches, layers=layers,
                           layer_size=layer_size, seed=seed)
        return push_artifact(pusher, image, seed=seed) if artifact else image

    return push


@pytest.fixture(scope="session")
def skopeo(tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    """The real skopeo with a private auth file, registries.conf and accept-anything policy."""
    require_tools("skopeo")
    return Skopeo(tmp_path_factory.mktemp("skopeo-home"))


@pytest.fixture(scope="session")
def skopeo_inspect_digest(skopeo: Skopeo) -> Callable[..., str]:
    """``skopeo_inspect_digest(ref, tls_verify=True, creds=None, cert_dir=None)`` -> ``sha256:`` of the raw
    manifest from ``skopeo inspect --raw``; raises ``SkopeoError`` if skopeo fails.
    ``**skopeo_opts(registry)`` gives the right keywords for a LocalRegistry."""
    return skopeo.inspect_digest


@pytest.fixture(scope="session")
def skopeo_opts() -> Callable[..., dict[str, Any]]:
    """``skopeo_opts(registry, creds=None)`` -> ``tls_verify``/``creds``/``cert_dir`` keywords for that registry."""
    return registry_opts


@pytest.fixture
def proxies() -> Iterator[Callable[..., Any]]:
    """``proxies(registry, *rules, seed=0, max_in_a_row=None)``: a started ``FaultProxy`` in front of a
    LocalRegistry, stopped after the test."""
    from support.fault_proxy import FaultProxy  # noqa: PLC0415 - only the fault tests need it

    started: list[FaultProxy] = []

    def make(registry: LocalRegistry, *rules: Any, seed: int = 0, max_in_a_row: int | None = None) -> FaultProxy:
        proxy = FaultProxy(registry, rules, seed=seed, max_in_a_row=max_in_a_row).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()
