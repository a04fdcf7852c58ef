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
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Generator, Iterable

import httpx

from ..errors import InputError
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
    return {_normalise_key(k): v for k, v in auths.items()}


_warned: set[str] = set()


def warn_if_exposed(file: Path) -> None:
    """Warn (once) when an auth file can be read by group or others."""
    try:
        mode = file.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH) and str(file) not in _warned:
        _warned.add(str(file))
        log.warning("auth file %s is readable by group or others (mode %o); chmod 600 it", file, mode & 0o777)


def lookup(registry: str, repository: str | None = None, *, auth_file: str | None = None) -> Credentials | None:
    """Credentials for ``registry`` (and, when given, the repository below it), or None for anonymous."""
    keys = [registry]
    if repository:
        parts = repository.split("/")
        keys = [f"{registry}/{'/'.join(parts[:i])}" for i in range(len(parts), 0, -1)] + keys
    for file in auth_file_paths(auth_file):
        auths = _load_auths(file, required=bool(auth_file))
        for key in keys:
            if key in auths:
                creds = _decode_entry(auths[key], file, key)
                if creds:
                    return creds
    return None


# --- the challenge flow -------------------------------------------------------------------------------------------

_CHALLENGE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags)/")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="..."`` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _CHALLENGE.finditer(rest)}
    return scheme.lower(), params


def scope_for(request: httpx.Request) -> str | None:
    """The token scope a registry API request needs: ``repository:NAME:pull`` or ``...:pull,push``."""
    return _scope(request.method, request.url.path, request.url.params.get("from"))


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
    names; httpx drops ``Authorization`` on redirects to another origin.
    """

    def __init__(self, host: str, credentials: Credentials | None) -> None:
        self.host = host
        self.credentials = credentials
        self._lock = threading.Lock()
        self._scheme: str | None = None
        self._bearer_params: dict[str, str] = {}
        self._tokens: dict[str, _Token] = {}
        self._unchallenged = False  # a request of ours was answered before any challenge: it needs no auth
        self.tokens_fetched = 0

    def _basic(self) -> str:
        c = self.credentials
        assert c is not None
        return "Basic " + base64.b64encode(f"{c.username}:{c.password}".encode()).decode()

    def _cached(self, scope: str | None) -> str | None:
        with self._lock:
            tok = self._tokens.get(scope or "")
            if tok and tok.expires > time.monotonic():
                return tok.value
        return None

    def _ours(self, request: httpx.Request) -> bool:
        netloc = request.url.netloc.decode("ascii")
        return netloc == self.host or (request.url.port is None and request.url.host == self.host)

    def _apply(self, request: httpx.Request) -> bool:
        if self._scheme == "basic" and self.credentials:
            request.headers["Authorization"] = self._basic()
            return True
        if self._scheme == "bearer":
            tok = self._cached(scope_for(request))
            if tok:
                request.headers["Authorization"] = f"Bearer {tok}"
                return True
        return False

    def known_authorization(self, method: str, path: str) -> tuple[bool, str | None]:
        """For a request sent outside httpx (see ``RegistryClient.manifest_descriptor``): whether it can go
        without first asking the token realm, and the ``Authorization`` value it then carries (None: none).

        False until the flow has seen how this registry answers (a challenge, or an answer without one), and for
        a Bearer registry with no live token for the request's scope. A request sent this way that is answered
        401 must be sent again through the flow, which answers the challenge.
        """
        if self._scheme == "basic":
            return True, self._basic() if self.credentials else None
        if self._scheme == "bearer":
            tok = self._cached(_scope(method, path))
            return (True, f"Bearer {tok}") if tok else (False, None)
        return self._unchallenged, None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._ours(request):
            # an upload Location or redirect on another host never gets this registry's credentials
            yield request
            return
        replayable = _replayable(request)
        if not self._apply(request) and not replayable and self._scheme == "bearer":
            # A streamed upload cannot be sent twice: get its token before sending it, not after a 401.
            scope = scope_for(request)
            if scope and (value := (yield from self._fetch_token(self._bearer_params, scope, scope))):
                request.headers["Authorization"] = f"Bearer {value}"
        response = yield request
        if response.status_code != 401:
            self._unchallenged = self._unchallenged or self._scheme is None
            return
        header = response.headers.get("WWW-Authenticate", "")
        scheme, params = parse_challenge(header)
        if scheme == "basic":
            if not self.credentials:
                return
            self._scheme = "basic"
            if not replayable:
                raise _SendAgain(self.host)
            request.headers["Authorization"] = self._basic()
            yield request
            return
        if scheme != "bearer" or "realm" not in params:
            return
        self._scheme = "bearer"
        self._bearer_params = params
        scope = scope_for(request)
        if scope is None and not params.get("scope"):
            return  # a version check (/v2/): the 401 already says the registry is there; no token is worth fetching
        wanted = " ".join(s for s in [params.get("scope"), scope] if s)
        value = yield from self._fetch_token(params, wanted, scope)
        if not value:
            return  # the original 401 stands; the caller reports an authentication failure
        if not replayable:
            raise _SendAgain(self.host)  # the body is gone: the caller's retry sends it with the new token
        request.headers["Authorization"] = f"Bearer {value}"
        yield request

    def _fetch_token(self, params: dict[str, str], wanted: str,
                     scope: str | None) -> Generator[httpx.Request, httpx.Response, str | None]:
        """Ask the realm for a token for ``wanted`` and cache it under ``scope``; None when none was given."""
        if "realm" not in params:
            return None
        token_response = yield self._token_request(params, wanted)
        token_response.read()
        if token_response.status_code != 200:
            return None
        try:
            body = token_response.json()
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

    def _token_request(self, params: dict[str, str], scope: str) -> httpx.Request:
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        for s in scope.split():
            query.append(("scope", s))
        headers = {}
        c = self.credentials
        if c and c.identity_token:
            # an identity token is exchanged by POST (the OAuth2 refresh-token grant)
            form = {"grant_type": "refresh_token", "refresh_token": c.identity_token, "client_id": "mirrorsync",
                    "service": params.get("service", ""), "scope": scope}
            return httpx.Request("POST", params["realm"], data=form)
        if c and c.username:
            headers["Authorization"] = self._basic()
        return httpx.Request("GET", params["realm"], params=query, headers=headers)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every secret in ``text`` with ``***`` (a last line of defence for error messages)."""
    for s in secrets:
        if s and len(s) >= 3:
            text = text.replace(s, "***")
    return text
