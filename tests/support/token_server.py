"""A Docker registry token server for tests: stdlib http.server in a thread on 127.0.0.1.

Implements the token protocol the registry's ``auth.token`` expects (``GET /token?service=&scope=`` with
Basic auth, and the OAuth2 ``POST /token`` password grant). Tokens are RS256 JWTs signed with ``openssl dgst``;
the JWT header carries the signing certificate in ``x5c``, which is how docker-registry 2.8 finds the key
(it checks that chain against ``rootcertbundle``; a bare ``kid`` would have to be a libtrust fingerprint).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import math
import secrets
import shutil
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devtools.devregistry import TokenAuthConfig, self_signed_rsa_cert
from devtools.loopback_http import LoopbackHTTPServer

# docker-registry accepts a token until 60 s after its ``exp`` (and 60 s before its ``nbf``): token.Leeway.
REGISTRY_LEEWAY = 60


@dataclass
class TokenUser:
    """A user's password and grants: fnmatch pattern on the repository name -> allowed actions.

    Actions are ``pull``, ``push``, ``delete`` or ``*`` (everything asked for). The first matching pattern
    wins; ``catalog`` also grants ``registry:catalog:*``.
    """

    password: str
    grants: dict[str, set[str]] = field(default_factory=dict)
    catalog: bool = False

    def allowed(self, repository: str) -> set[str]:
        """The actions this user may do on ``repository``."""
        for pattern, actions in self.grants.items():
            if fnmatch.fnmatchcase(repository, pattern):
                return set(actions)
        return set()


@dataclass(frozen=True)
class TokenRequest:
    """One request the server answered, for assertions: who, which scopes, and what was granted."""

    method: str
    user: str | None
    scopes: tuple[str, ...]
    status: int
    access: tuple[dict[str, Any], ...]
    client_cert: bool = False  # the client presented a certificate (HTTPS with ``tls`` asking for one)


class TokenServer(LoopbackHTTPServer):
    """Issues registry tokens; ``start()`` it, point a registry at ``auth_config``, ``stop()`` it.

    ``lifetime`` is how long the *registry* accepts a token, in seconds: the server subtracts the registry's
    60 s leeway from ``exp`` (so ``exp`` may lie in the past), and tells clients ``expires_in = lifetime``.
    This makes short-lived tokens really expire after ``lifetime`` seconds. ``lifetime`` may be changed
    while running.
    """

    thread_name = "token-server"

    def __init__(self, workdir: Path, users: dict[str, TokenUser], *, service: str = "mirrorsync-test-registry",
                 issuer: str = "mirrorsync-test-token-server", lifetime: int = 300,
                 anonymous: TokenUser | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.workdir = workdir
        self.users = users
        self.service = service
        self.issuer = issuer
        self.lifetime = lifetime
        self.anonymous = anonymous or TokenUser(password="")
        self.tls = tls  # serve HTTPS with this server context (see ``support.tls.server_context``)
        self.signing = self_signed_rsa_cert(workdir, "token-signing", issuer)
        self._x5c = [_pem_to_der_b64(self.signing.cert.read_text())]
        self._lock = threading.Lock()
        self._issued = 0
        self._requests: list[TokenRequest] = []
        self._openssl = shutil.which("openssl") or "openssl"

    @property
    def port(self) -> int:
        """The port on 127.0.0.1 (only once started)."""
        if self._httpd is None:
            raise RuntimeError("token server not started")
        return self._httpd.server_address[1]

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the realm's host, as a manifest's ``registries`` names it."""
        return f"127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        """The URL clients fetch tokens from."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/token"

    @property
    def auth_config(self) -> TokenAuthConfig:
        """What ``start_registry(token=...)`` needs to trust this server's tokens."""
        return TokenAuthConfig(realm=self.realm, service=self.service, issuer=self.issuer,
                               rootcertbundle=self.signing.cert)

    @property
    def issued(self) -> int:
        """How many tokens were issued since start (or the last ``reset_counters``)."""
        with self._lock:
            return self._issued

    @property
    def requests(self) -> list[TokenRequest]:
        """A copy of the answered requests, oldest first."""
        with self._lock:
            return list(self._requests)

    def reset_counters(self) -> None:
        """Forget issued tokens and requests seen so far."""
        with self._lock:
            self._issued = 0
            self._requests.clear()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def grant(self, user: TokenUser, scopes: list[str]) -> list[dict[str, Any]]:
        """The ``access`` claim for ``scopes``: each requested action the user may do, nothing more."""
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            # Repository names cannot contain ":", but a registry host:port prefix in a name could.
            kind, name, actions = parts[0], ":".join(parts[1:-1]), set(parts[-1].split(","))
            if kind == "repository":
                allowed = user.allowed(name)
                granted = actions if "*" in allowed else actions & allowed
            elif kind == "registry" and name == "catalog" and user.catalog:
                granted = actions
            else:
                granted = set()
            if granted:
                access.append({"type": kind, "name": name, "actions": sorted(granted)})
        return access

    def issue(self, subject: str, access: list[dict[str, Any]], *, lifetime: int | None = None) -> str:
        """Sign a token for ``subject`` with ``access`` (see ``lifetime`` in the class docstring)."""
        now = int(time.time())
        lifetime = self.lifetime if lifetime is None else lifetime
        # JWT times are whole seconds: round the expiry up so a token lives at least ``lifetime`` seconds (at most
        # one more) instead of losing up to a second to truncation, which made 1-second tokens dead on arrival
        expires = math.ceil(time.time()) + lifetime - REGISTRY_LEEWAY
        header = {"typ": "JWT", "alg": "RS256", "x5c": self._x5c}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "iat": now, "nbf": now,
                  "exp": expires, "jti": secrets.token_hex(16), "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        result = subprocess.run([self._openssl, "dgst", "-sha256", "-sign", str(self.signing.key)],
                                input=signing_input.encode(), capture_output=True, check=True)
        with self._lock:
            self._issued += 1
        return f"{signing_input}.{_b64url(result.stdout)}"

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self._requests.append(request)


def _handler_for(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            if url.path != "/token":
                return self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
            query = parse_qs(url.query)
            user, ok = self._basic_user()
            self._answer("GET", user, ok, query.get("service", [""])[0], query.get("scope", []), oauth=False)

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != "/token":
                return self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            if form.get("grant_type", [""])[0] != "password":
                return self._reply(HTTPStatus.BAD_REQUEST, {"error": "unsupported_grant_type"})
            name, password = form.get("username", [""])[0], form.get("password", [""])[0]
            known = server.users.get(name)
            ok = known is not None and secrets.compare_digest(known.password, password)
            scopes = [s for raw in form.get("scope", []) for s in raw.split(" ") if s]
            self._answer("POST", name, ok, form.get("service", [""])[0], scopes, oauth=True)

        def _client_cert(self) -> bool:
            getpeercert = getattr(self.connection, "getpeercert", None)
            return bool(getpeercert and getpeercert())

        def _basic_user(self) -> tuple[str | None, bool]:
            header = self.headers.get("Authorization", "")
            if not header.lower().startswith("basic "):
                return None, True  # anonymous
            try:
                name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, False
            known = server.users.get(name)
            return name, known is not None and secrets.compare_digest(known.password, password)

        def _answer(self, method: str, user: str | None, ok: bool, service: str, scopes: list[str],
                    *, oauth: bool) -> None:
            if not ok:
                server._record(TokenRequest(method, user, tuple(scopes), 401, (), self._client_cert()))
                self.send_response(HTTPStatus.UNAUTHORIZED)
                body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}).encode()
                self.send_header("WWW-Authenticate", 'Basic realm="mirrorsync-test-token-server"')
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if service and service != server.service:
                server._record(TokenRequest(method, user, tuple(scopes), 400, (), self._client_cert()))
                return self._reply(HTTPStatus.BAD_REQUEST, {"error": f"unknown service {service!r}"})
            account = server.users[user] if user else server.anonymous
            access = server.grant(account, scopes)
            token = server.issue(user or "", access)
            server._record(TokenRequest(method, user, tuple(scopes), 200, tuple(access), self._client_cert()))
            body: dict[str, Any] = {"access_token": token, "expires_in": server.lifetime,
                                    "issued_at": datetime.now(timezone.utc).isoformat()}
            if not oauth:
                body["token"] = token
            self._reply(HTTPStatus.OK, body)

        def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # requests are recorded in server.requests instead of printed to stderr

    return Handler


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pem_to_der_b64(pem: str) -> str:
    # x5c wants standard (not URL-safe) base64 of the DER, which is exactly a PEM body without its lines.
    lines = pem.strip().splitlines()
    return "".join(line for line in lines if not line.startswith("-----"))
