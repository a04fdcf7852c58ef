"""One registry host's HTTP plumbing: TLS per host (``tls.py``), the scheme (``scheme.py``), auth (``auth.py``),
pooled connections, what answers mean (``http_errors.py``) and retries (``retry.py``).

``RegistryClient`` (``client.py``) speaks the distribution API over it.
"""

from __future__ import annotations

import http.client
import threading
from typing import Callable

import httpx

from . import auth as auth_mod
from . import limits, retry, tls
from ..oci.content import ACCEPT
from ..errors import Unreachable
from .http_errors import raise_for_status, unreachable
from .scheme import detect_scheme
from .settings import RegistrySettings
from .retry import RetryPolicy
from .proxies import ProxySettings
from .tls import HostTransports

USER_AGENT = "mirrorsync"


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing: registries do not use cookies (containers/image sends none either), and
    httpx's per-response cookie extraction costs as much CPU as the rest of a small request's handling."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class _Client(httpx.Client):
    """httpx's client without cookies."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, value) -> None:
        pass


_NO_COOKIES = _NoCookies()


class RegistryConnection:
    """The requests to one registry host: its scheme found once, its auth flow, its pooled transports, and a retried
    call that turns a transport failure into one line naming the host."""

    def __init__(self, host: str, *, settings: RegistrySettings | None = None,
                 credentials: auth_mod.Credentials | auth_mod.CredentialsFor | None = None,
                 policy: RetryPolicy | None = None, timeout: float = 60.0, max_connections: int = 32,
                 settings_for: Callable[[str], RegistrySettings] | None = None,
                 proxies: ProxySettings | None = None) -> None:
        """``settings`` are this registry's; ``settings_for(host)`` those of any other host it sends us to (its
        token realm, a redirect's target), verified TLS without a client certificate when not given.
        ``credentials`` may be a function of the repository (``auth.credentials_for``)."""
        self.host = host
        self.settings = settings or RegistrySettings()
        self.policy = policy or RetryPolicy()
        # whether the host answers: its answered failures spend no retries while it does (retry.py)
        self.health = retry.HostHealth(timeout)
        settings_for = settings_for or (lambda _host: RegistrySettings())
        self._settings_for = settings_for
        self.auth = auth_mod.RegistryAuth(host, credentials, settings_for=settings_for,
                                          plain_http=not self.settings.tls_verify)
        self._scheme: str | None = None
        self._scheme_lock = threading.Lock()
        self._transports = HostTransports(host, self.settings, owns=self.auth.owns, settings_for=settings_for,
                                          max_connections=max_connections, proxies=proxies,
                                          ledger=self.policy.ledger)
        self._transport = self._transports.own  # the lean HEAD's, beside httpx's use of it
        self._origin: tuple[str, str, int] | None = None  # (scheme, host, port) once base_url is known
        # why the run gave this host up (its preflight, a circuit breaker), or None: then no request goes to it
        # any more, each fails at once with that reason
        self.given_up: Callable[[], str | None] = lambda: None
        self._client = _Client(
            event_hooks={"response": [limits.bound_body]},
            auth=self.auth,
            verify=self._transports.ssl_context,
            transport=self._transports,  # each host's TLS settings: its own transport (tls.py)
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.host!r})"

    def describe(self) -> str:
        return self.host

    def close(self) -> None:
        self._client.close()
        self._transports.close()

    @property
    def base_url(self) -> str:
        reason = self.given_up()
        if reason is not None:
            raise Unreachable(reason)
        if self._scheme is None:
            with self._scheme_lock:
                if self._scheme is None:
                    try:
                        self._scheme = detect_scheme(self.host, self.settings, self._client.get, self.policy)
                    except httpx.TransportError as exc:
                        raise self.unreachable(exc) from None
        return f"{self._scheme}://{self.host}"

    def url_of(self, path: str) -> str:
        return self.base_url + path

    def request(self, method: str, url: str, **kw) -> httpx.Response:
        """One request through the auth flow, its answer as it is (no status check, no retry)."""
        return self._client.request(method, url, **kw)

    def send(self, method: str, url: str, what: str, **kw) -> httpx.Response:
        response = self._client.request(method, url, **kw)
        self.check(response, what)
        return response

    def check(self, response: httpx.Response, what: str) -> None:
        """``raise_for_status``, a 401 or 403 saying which credentials were sent (``auth_hint``)."""
        raise_for_status(response, what, self.auth_hint)

    def auth_hint(self, response: httpx.Response) -> str:
        """What a 401 or 403 of this registry is to be read with: the auth file entry whose credentials went
        with the request, or the keys looked for and the files searched when none did. Never the secret."""
        try:
            request = response.request
        except RuntimeError:  # an answer built without its request (the lean HEAD's)
            repository = None
        else:
            repository = request.extensions.get(auth_mod.LOGIN, auth_mod.repository_of(request.url.path))
        where = self.auth.where(repository)
        if not self.auth.credentials(repository):
            return f" ({where}; add one for {self.host})"
        if response.status_code == 401:
            return f" ({self.host} refused the {where}: check that entry)"
        return f" ({self.host} took the {where}, but they do not allow this)"

    def retrying(self, fn, what: str, *, health: bool = True):
        """``fn`` retried; ``health``: its success says the host answers (``retry.HostHealth``)."""
        reason = self.given_up()
        if reason is not None:
            raise Unreachable(reason)
        try:
            return retry.call(self.policy, fn, what, health=self.health if health else None)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None

    def unreachable(self, exc: httpx.TransportError) -> Unreachable:
        """A transport failure as one line naming this registry (or the host it sent us to)."""
        def fix(kind: str | None, failing: str) -> str:
            settings = self.settings if failing == self.host else self._settings_for(failing)
            return tls.fix_for(kind, failing, settings)

        retry.note_unreachable(self.host)
        return unreachable(self.host, exc, self.auth.owns, fix)

    def check_access(self, repository: str | None = None, *, login: bool = True) -> None:
        """A preflight: ``GET /v2/`` answers, over TLS trusted as configured. With ``login`` it must also take the
        credentials of ``repository`` (its auth file entry; None: the registry's own), a token fetched for them
        where the registry wants one, as ``docker login`` does; a registry that wants credentials where none are
        found fails too. Raises ``Unreachable``, or ``AuthError`` naming the auth file entry tried (not
        retried: a fresh token was refused)."""
        if login and self.auth.credentials(repository) is None and self.auth.has_credentials_below(repository):
            # credentials given per repository (host/ns/app), none for the namespace: nothing to log in with here,
            # so the answer and its TLS only; each image's requests then carry their own repository's entry
            login = False

        def go() -> None:
            response = self._client.get(self.url_of("/v2/"), extensions={auth_mod.LOGIN: repository} if login
                                        else {})
            if response.status_code != 401 or login:
                self.check(response, f"GET {self.host}/v2/")
        # its answer says nothing of how the host answers the copies' requests: a load balancer may answer /v2/
        # itself and 503 everything else, which must spend the retries as a dead host does
        self.retrying(go, f"checking {self.host}", health=False)

    def ping(self) -> None:
        """Check that the registry answers (a 401 is an answer): ``check_access`` without credentials."""
        self.check_access(login=False)

    # --- manifests ------------------------------------------------------------------------------------------------

    def _lean_head(self, path: str) -> http.client.HTTPResponse | None:
        """HEAD ``path`` on our own transport without httpx's client around it, which costs more CPU than the
        request does on a no-op re-sync's thousands of HEADs. It carries what the auth flow says a request
        carries (``RegistryAuth.authorization``). None where the full path must do it: where the flow has more to
        do first (a Bearer token for the scope to fetch), or when the answer is 401 (a challenge)."""
        if self._origin is None:  # first, as finding the scheme may be what shows how the registry authenticates
            url = httpx.URL(self.base_url)
            self._origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        ready, authorization = self.auth.authorization("HEAD", path)
        if not ready:
            return None
        headers = [("User-Agent", USER_AGENT), ("Accept", ACCEPT)]
        if authorization:
            headers.append(("Authorization", authorization))
        timeout = self._client.timeout
        answer = self._transport.head(self._origin, path, headers, connect_timeout=timeout.connect,
                                      timeout=timeout.read)
        return None if answer.status == 401 else answer
