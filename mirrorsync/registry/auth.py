"""Registry credentials (containers ``auth.json`` / docker ``config.json``) and the Basic/Bearer challenge flow.

Credential files are searched in containers/image's order: an explicit ``--authfile`` (or ``REGISTRY_AUTH_FILE``)
alone when given; otherwise ``$XDG_RUNTIME_DIR/containers/auth.json``, ``$XDG_CONFIG_HOME/containers/auth.json``,
``~/.docker/config.json`` (``$DOCKER_CONFIG/config.json``) and ``~/.dockercfg``. Within a file the most specific key
wins (``host/ns/repo`` before ``host/ns`` before ``host``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generator, Iterable, Iterator

import httpx

from . import credential_helpers, file_exposure, limits
from ..errors import AuthError, InputError
from .settings import RegistrySettings
from .reference import same_host_spellings
from .retry import TransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = ""
    identity_token: str | None = None  # an OAuth2 refresh token, sent as refresh_token to the realm

    def __repr__(self) -> str:  # never let a secret reach a log through repr()
        return f"Credentials(username={self.username!r}, password=<redacted>)"


def default_auth_files() -> list[Path]:
    """The files containers/image consults when no auth file is named, in its order."""
    home = Path(os.path.expanduser("~"))
    out: list[Path] = []
    if os.environ.get("XDG_RUNTIME_DIR"):
        out.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    else:
        out.append(Path(f"/run/containers/{os.getuid()}/auth.json"))
    out.append(Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "containers" / "auth.json")
    out.append(Path(os.environ.get("DOCKER_CONFIG") or home / ".docker") / "config.json")
    out.append(home / ".dockercfg")
    return out


def auth_file_paths(explicit: str | None = None) -> list[Path]:
    explicit = explicit or os.environ.get("REGISTRY_AUTH_FILE")
    return [Path(explicit)] if explicit else default_auth_files()


def _normalise_key(key: str) -> str:
    key = re.sub(r"^https?://", "", key)
    key = key.split("/v1/")[0].split("/v2/")[0].rstrip("/")
    return "docker.io" + key[len("index.docker.io"):] if key.startswith("index.docker.io") else key


def _decode_entry(entry: dict, file: Path, key: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise InputError("entry must be a mapping", file=str(file), field=f"auths.{key}")
    token = entry.get("identitytoken") or None
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(entry["auth"], validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            raise InputError("'auth' is not base64 of user:password", file=str(file), field=f"auths.{key}.auth") from None
        if not sep:
            raise InputError("'auth' is not base64 of user:password", file=str(file), field=f"auths.{key}.auth")
        return Credentials(user, password, token)
    if entry.get("username"):
        return Credentials(entry["username"], entry.get("password", ""), token)
    return Credentials("", "", token) if token else None


def _load_auths(file: Path, *, required: bool = False) -> dict[str, dict]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:  # named by --authfile or a registry's authFile: a typo must not mean "anonymous"
            raise InputError("auth file not found", file=str(file)) from None
        return {}
    except OSError as exc:
        raise InputError(f"cannot read auth file: {exc.strerror}", file=str(file)) from None
    warn_if_exposed(file)
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        # the message carries no file content, only a position: nothing secret leaks
        raise InputError(f"invalid JSON: {exc.msg}", file=str(file), line=exc.lineno) from None
    if not isinstance(data, dict):
        raise InputError("must be a JSON object", file=str(file))
    if file.name == ".dockercfg":
        return {_normalise_key(k): v for k, v in data.items()}
    auths = data.get("auths", {})
    if not isinstance(auths, dict):
        raise InputError("'auths' must be an object", file=str(file), field="auths")
    out = {_normalise_key(k): v for k, v in auths.items()}
    # a registry's credHelpers entry decides for it, before its auths entry, as in containers/image
    out.update({_normalise_key(k): v for k, v in credential_helpers.entries(data, file).items()})
    return out


_warned: set[str] = set()


def warn_if_exposed(file: Path) -> None:
    """Warn (once) when an auth file can be read by those it is not meant for (:mod:`.file_exposure`)."""
    if str(file) in _warned:
        return
    warning = file_exposure.exposure_warning(file)
    if warning is not None:
        _warned.add(str(file))
        log.warning("%s", warning)


def auth_keys(registry: str, repository: str | None = None) -> list[str]:
    """The auth file keys that apply to ``registry/repository``, best first, as containers/image's
    ``authKeysForKey``: the repository, each parent namespace, then the host; each spelling of the host (with and
    without its default port) before the next shorter path."""
    paths = [""]
    if repository:
        parts = repository.split("/")
        paths = ["/" + "/".join(parts[:i]) for i in range(len(parts), 0, -1)] + paths
    return [f"{host}{path}" for path in paths for host in same_host_spellings(registry)]


def lookup(registry: str, repository: str | None = None, *, auth_file: str | None = None) -> Credentials | None:
    """Credentials for ``registry`` (and, when given, the repository below it), or None for anonymous.

    As containers/image: the files are searched in order, and the first file with a matching key decides; within
    a file the most specific key wins (``host/ns/repo`` before ``host/ns`` before ``host``).
    """
    return _search(auth_keys(registry, repository),
                   ((file, _load_auths(file, required=bool(auth_file))) for file in auth_file_paths(auth_file)))


def _search(keys: list[str], files: Iterable[tuple[Path, dict]]) -> Credentials | None:
    """The first file's entry for the most specific of ``keys`` it has; files are read as the search needs them."""
    for file, auths in files:
        for key in keys:
            if key in auths:
                creds = _entry_credentials(auths[key], file, key)
                if creds:
                    return creds
        store = auths.get(credential_helpers.STORE_KEY)
        if store and keys:  # the file's credsStore, for a registry it has no entry of its own for
            host = keys[0].split("/", 1)[0]
            if not any(k in auths for k in same_host_spellings(host)):
                creds = _entry_credentials(store, file, host)
                if creds:
                    return creds
    return None


def where_from(registry: str, repository: str | None = None, *, auth_file: str | None = None) -> str:
    """Which auth file entry ``registry/repository`` gets its credentials from, for an error to name: the file and
    key (``host/ns`` or ``host``), or the keys looked for and the files searched. Never the secret itself; no
    credential helper is run for it."""
    keys = auth_keys(registry, repository)
    paths = auth_file_paths(auth_file)
    for file in paths:
        try:
            auths = _load_auths(file, required=bool(auth_file))
        except InputError as exc:
            return f"the auth file could not be used: {exc}"
        key = next((k for k in keys if k in auths), None)
        if key is None and auths.get(credential_helpers.STORE_KEY):
            key = f"{keys[0].split('/', 1)[0]} (the file's credsStore)"
        if key is not None:
            return f"credentials of key {key} in {file}"
    return f"no credentials: no entry for {', '.join(dict.fromkeys(keys))} in {', '.join(map(str, paths))}"


def _entry_credentials(entry: dict, file: Path, key: str) -> Credentials | None:
    if isinstance(entry, dict) and credential_helpers.HELPER_KEY in entry:
        got = credential_helpers.get(entry[credential_helpers.HELPER_KEY], key.split("/", 1)[0], file)
        return Credentials(got[0], got[1], got[2]) if got else None
    return _decode_entry(entry, file, key)


# A request extension: this ``/v2/`` is a preflight's, answered with the credentials of the repository it holds
# (None: the registry's own), a token fetched for them if the registry wants one (``RegistryConnection.check_access``)
LOGIN = "mirrorsync.login"

CredentialsFor = Callable[[str | None], Credentials | None]  # repository (None: the registry itself) -> creds


def credentials_for(registry: str, auth_file: str | None = None) -> CredentialsLookup:
    """The credentials of each repository of ``registry``, looked up once per repository; each auth file is read
    once (when a lookup first needs it), not once per repository."""
    return CredentialsLookup(registry, auth_file)


class CredentialsLookup:
    """``credentials_for``'s answer: called with a repository (None: the registry itself), its credentials;
    ``where(repository)`` says which auth file entry they come from, for an error to name."""

    def __init__(self, registry: str, auth_file: str | None) -> None:
        self.registry, self.auth_file = registry, auth_file
        self._cache: dict[str | None, Credentials | None] = {}
        self._loaded: dict[Path, dict] = {}
        self._lock = threading.Lock()

    def _files(self) -> Iterator[tuple[Path, dict]]:
        for file in auth_file_paths(self.auth_file):
            if file not in self._loaded:
                self._loaded[file] = _load_auths(file, required=bool(self.auth_file))
            yield file, self._loaded[file]

    def __call__(self, repository: str | None) -> Credentials | None:
        with self._lock:
            if repository not in self._cache:
                self._cache[repository] = _search(auth_keys(self.registry, repository), self._files())
            return self._cache[repository]

    def where(self, repository: str | None) -> str:
        return where_from(self.registry, repository, auth_file=self.auth_file)

    def has_entries_below(self, repository: str | None) -> bool:
        """Whether an auth file has keys for repositories below ``repository`` (None: below the registry), such
        as ``host/ns/app`` for ``ns``: credentials given per repository, none for the namespace itself."""
        prefixes = tuple(f"{host}/{repository}/" if repository else f"{host}/"
                         for host in same_host_spellings(self.registry))
        with self._lock:
            return any(key.startswith(prefixes) for _file, auths in self._files() for key in auths)


# --- the challenge flow -------------------------------------------------------------------------------------------

_CHALLENGE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
# The shortest name after which the path is an API endpoint, so that a repository with a component named "tags",
# "blobs" or "manifests" (team/tags/app) is still itself, for its token scope and its credentials.
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests/[^/]+|blobs/uploads/.*|blobs/[^/]+|tags/list)$")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="..."`` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _CHALLENGE.finditer(rest)}
    return scheme.lower(), params


def scope_for(request: httpx.Request) -> str | None:
    """The token scope a registry API request needs: ``repository:NAME:pull`` or ``...:pull,push``."""
    return _scope(request.method, request.url.path, request.url.params.get("from"))


def repository_of(path: str) -> str | None:
    """The repository a registry API path is about (``/v2/NAME/manifests/...`` -> NAME); None for ``/v2/``."""
    m = _REPO_PATH.match(path)
    return m.group("name") if m else None


def _scope(method: str, path: str, mount_from: str | None = None) -> str | None:
    m = _REPO_PATH.match(path)
    if not m:
        return None
    actions = "pull" if method in ("GET", "HEAD") else "pull,push"
    scopes = [f"repository:{m.group('name')}:{actions}"]
    if mount_from and mount_from != m.group("name"):
        scopes.append(f"repository:{mount_from}:pull")
    return " ".join(scopes)


class _SendAgain(TransientError):
    """A streamed upload was refused for its credentials, which are now renewed: worth one more attempt."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} refused the credentials of an upload already streamed; renewed them", status=401)


def _replayable(request: httpx.Request) -> bool:
    """Whether the request's body can be sent again (bytes in memory, or none), unlike a stream being read."""
    return not isinstance(request.stream, httpx.SyncByteStream) or isinstance(request.stream, httpx.ByteStream)


@dataclass
class _Token:
    value: str
    expires: float


class RegistryAuth(httpx.Auth):
    """Answers a registry's ``WWW-Authenticate`` challenge: Basic, or Bearer tokens per repository scope.

    Tokens are cached per scope and refreshed before they expire (or when the registry rejects them), so long runs
    outlive short-lived tokens. Credentials are only ever sent to the registry host itself and to the token realm it
    names, and to a realm only over HTTPS unless ``settings_for(realm host)`` says ``tlsVerify: false``; httpx drops
    ``Authorization`` on redirects to another origin.

    ``credentials`` are the registry's, or a function of the repository (see ``credentials_for``): each request
    carries those of the repository it is about (a token's scope names that repository), as containers/image looks
    them up per image reference.
    """

    def __init__(self, host: str, credentials: Credentials | CredentialsFor | None,
                 *, settings_for: Callable[[str], RegistrySettings] | None = None, plain_http: bool = False) -> None:
        """``plain_http``: this registry may be spoken to over plain HTTP (its ``tlsVerify: false``); otherwise
        a request to it over ``http://`` (an upload ``Location`` from a registry behind a TLS proxy that does not
        know it is) carries no credentials."""
        self.host = host
        self._plain_http = plain_http
        self._credentials_for: CredentialsFor = (credentials if callable(credentials)
                                                 else lambda _repository: credentials)
        self._settings_for = settings_for or (lambda _host: RegistrySettings())
        self._hostname, _, port = host.rpartition(":") if _has_port(host) else (host, "", "")
        self._port = int(port) if port else None
        self._lock = threading.Lock()
        self._scheme: str | None = None
        self._bearer_params: dict[str, str] = {}
        self._tokens: dict[str, _Token] = {}
        self._unchallenged = False  # a request of ours was answered before any challenge: it needs no auth
        self.tokens_fetched = 0

    def credentials(self, repository: str | None = None) -> Credentials | None:
        """What this registry's requests about ``repository`` carry (None: the registry itself, as ``/v2/``)."""
        return self._credentials_for(repository)

    def where(self, repository: str | None = None) -> str:
        """Where the credentials of ``repository`` come from (``CredentialsLookup.where``), for an error."""
        where = getattr(self._credentials_for, "where", None)
        if where is not None:
            return where(repository)
        return "the credentials given" if self.credentials(repository) else "no credentials given"

    def has_credentials_below(self, repository: str | None = None) -> bool:
        """Credentials exist only for repositories below ``repository`` (``CredentialsLookup.has_entries_below``)."""
        below = getattr(self._credentials_for, "has_entries_below", None)
        return bool(below and below(repository))

    @staticmethod
    def _basic(c: Credentials) -> str:
        return "Basic " + base64.b64encode(f"{c.username}:{c.password}".encode()).decode()

    def _cached(self, scope: str | None) -> str | None:
        with self._lock:
            tok = self._tokens.get(scope or "")
            if tok and tok.expires > time.monotonic():
                return tok.value
        return None

    def owns(self, url: httpx.URL) -> bool:
        """Whether ``url`` is on this registry: same host, and the port written in ``host`` or, where none is, the
        scheme's default (httpx leaves a default port out of URLs, so ``h:443`` and ``https://h/`` are one)."""
        default = 443 if url.scheme == "https" else 80
        return url.host == self._hostname.strip("[]") and (url.port or default) == (self._port or default)

    def authorization(self, method: str, path: str, mount_from: str | None = None) -> tuple[bool, str | None]:
        """What a request to this registry carries before any challenge to it, decided here for the flow below and
        for requests sent outside httpx (``RegistryClient._lean_head``) alike: the ``Authorization`` value (None:
        none), and whether that is all the request needs before it goes.

        Not all until the flow has seen how this registry answers (a challenge, or an answer without one), nor
        for a Bearer registry with no live token for the request's scope. A request sent without the flow that is
        answered 401 must be sent again through it, which answers the challenge.
        """
        if self._scheme == "basic":
            creds = self.credentials(repository_of(path))
            return True, self._basic(creds) if creds else None
        if self._scheme == "bearer":
            tok = self._cached(_scope(method, path, mount_from))
            return (True, f"Bearer {tok}") if tok else (False, None)
        return self._unchallenged, None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self.owns(request.url) or (request.url.scheme != "https" and not self._plain_http):
            # an upload Location or redirect on another host never gets this registry's credentials, nor does a
            # URL on this host in clear text, unless the manifest says the registry has no TLS
            yield request
            return
        replayable = _replayable(request)
        ready, value = self.authorization(request.method, request.url.path, request.url.params.get("from"))
        if LOGIN in request.extensions:
            ready, value = False, None  # the challenge decides, with the credentials the preflight names
        if value:
            request.headers["Authorization"] = value
        elif not ready and not replayable and self._scheme == "bearer":
            # A streamed upload cannot be sent twice: get its token before sending it, not after a 401.
            scope = scope_for(request)
            if scope and (value := (yield from self._fetch_token(self._bearer_params, scope, scope,
                                                                 repository_of(request.url.path)))):
                request.headers["Authorization"] = f"Bearer {value}"
        response = yield request
        if response.status_code != 401:
            self._unchallenged = self._unchallenged or self._scheme is None
            return
        header = response.headers.get("WWW-Authenticate", "")
        scheme, params = parse_challenge(header)
        login = LOGIN in request.extensions  # a preflight's /v2/: with the credentials of the repository it names
        repository = request.extensions[LOGIN] if login else repository_of(request.url.path)
        if scheme == "basic":
            creds = self.credentials(repository)
            if not creds:
                return
            self._scheme = "basic"
            if not replayable:
                raise _SendAgain(self.host)
            request.headers["Authorization"] = self._basic(creds)
            yield request
            return
        if scheme != "bearer" or "realm" not in params:
            return
        self._scheme = "bearer"
        self._bearer_params = params
        scope = scope_for(request)
        if scope is None and not params.get("scope") and not (login and self.credentials(repository)):
            # a version check (/v2/): the 401 already says the registry is there; no token is worth fetching,
            # unless a preflight asks whether the realm takes the credentials (as ``docker login`` does)
            return
        wanted = " ".join(s for s in [params.get("scope"), scope] if s)
        value = yield from self._fetch_token(params, wanted, scope, repository)
        if not value:
            return  # the original 401 stands; the caller reports an authentication failure
        if not replayable:
            raise _SendAgain(self.host)  # the body is gone: the caller's retry sends it with the new token
        request.headers["Authorization"] = f"Bearer {value}"
        yield request

    def _fetch_token(self, params: dict[str, str], wanted: str, scope: str | None,
                     repository: str | None) -> Generator[httpx.Request, httpx.Response, str | None]:
        """Ask the realm for a token for ``wanted`` with ``repository``'s credentials and cache it under ``scope``
        (which names that repository); None when none was given."""
        if "realm" not in params:
            return None
        token_response = yield self._token_request(params, wanted, self.credentials(repository))
        if token_response.status_code != 200:
            return None
        data = limits.read_at_most(token_response, limits.TOKEN_BODY, "a token answer",
                                   f"the token realm of {self.host}")
        try:
            body = json.loads(data)
            value = body.get("token") or body.get("access_token")
            lifetime = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError):
            return None
        if not value:
            return None
        with self._lock:
            self.tokens_fetched += 1
            # refresh a little early so a token never expires between our check and the registry's
            self._tokens[scope or ""] = _Token(value, time.monotonic() + max(lifetime - min(10.0, lifetime / 4), 1.0))
        return value

    def _token_request(self, params: dict[str, str], scope: str, c: Credentials | None) -> httpx.Request:
        if c and (c.username or c.identity_token):
            self._check_realm(params["realm"])
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        for s in scope.split():
            query.append(("scope", s))
        headers = {}
        if c and c.identity_token:
            # an identity token is exchanged by POST (the OAuth2 refresh-token grant)
            form = {"grant_type": "refresh_token", "refresh_token": c.identity_token, "client_id": "mirrorsync",
                    "service": params.get("service", ""), "scope": scope}
            return httpx.Request("POST", params["realm"], data=form)
        if c and c.username:
            headers["Authorization"] = self._basic(c)
        return httpx.Request("GET", params["realm"], params=query, headers=headers)

    def _check_realm(self, realm: str) -> None:
        """Refuse to send credentials to a realm in clear text, unless the manifest says that host has no TLS."""
        url = httpx.URL(realm)
        if url.scheme == "https":
            return
        host = url.netloc.decode("ascii")
        if url.scheme == "http" and not self._settings_for(host).tls_verify:
            return
        raise AuthError(f"{self.host} names the token realm {url.scheme}://{host}{url.path}, which is not HTTPS: "
                        f"credentials are not sent there in clear text (if that host really has no TLS, say "
                        f"tlsVerify: false for {host} under registries)")


def _has_port(host: str) -> bool:
    """Whether ``host`` (``name``, ``name:port``, ``[v6]``, ``[v6]:port``) names a port."""
    return ":" in host.rpartition("]")[2]


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every secret in ``text`` with ``***`` (a last line of defence for error messages)."""
    for s in secrets:
        if s and len(s) >= 3:
            text = text.replace(s, "***")
    return text
