"""Start and stop a local CNCF distribution registry (``docker-registry``) for demos, benchmarks and tests.

It lives in the package, not under ``tests/``, because ``scripts/demo`` and ``scripts/bench`` start registries
too. Everything here binds to 127.0.0.1 only, and certificates come from the ``openssl`` CLI so that no
crypto package becomes a dependency.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from mirrorsync.errors import MirrorsyncError

REGISTRY_BINARY = "docker-registry"
INSTALL_HINT = "install the Debian packages with scripts/test (or: apt-get install -y docker-registry openssl apache2-utils)"

# A port picked by binding 0 can be taken by someone else before the registry binds it; retry that many times.
_PORT_ATTEMPTS = 5


class DevRegistryError(MirrorsyncError):
    """A local registry (or a certificate or password file for it) could not be made or started."""


@dataclass(frozen=True)
class CertPair:
    """A PEM certificate and its unencrypted PEM private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class TestCA:
    """A throwaway certificate authority in ``directory``, made with the ``openssl`` CLI."""

    __test__ = False  # pytest would otherwise try to collect it from test modules that import it

    directory: Path
    cert: Path
    key: Path

    @classmethod
    def create(cls, directory: Path, *, common_name: str = "mirrorsync test CA") -> TestCA:
        """Make a new self-signed CA (EC P-256) in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / "ca.crt", directory / "ca.key"
        conf = _write_openssl_conf(directory / "ca.cnf", common_name, [
            "basicConstraints = critical,CA:TRUE",
            "keyUsage = critical,keyCertSign,cRLSign",
            "subjectKeyIdentifier = hash",
        ])
        _openssl("req", "-x509", "-new", *_EC_KEY, "-nodes", "-keyout", key, "-out", cert, "-days", "3650",
                 "-config", conf, "-extensions", "ext")
        return cls(directory=directory, cert=cert, key=key)

    def issue_server_cert(self, name: str = "server",
                          hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")) -> CertPair:
        """Issue a TLS server certificate whose subjectAltName lists ``hosts`` (IPs and DNS names)."""
        sans = ",".join(f"IP:{h}" if _is_ip(h) else f"DNS:{h}" for h in hosts)
        return self._issue(name, hosts[0], [
            "basicConstraints = critical,CA:FALSE",
            "keyUsage = critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage = serverAuth",
            f"subjectAltName = {sans}",
        ])

    def issue_client_cert(self, name: str = "client", common_name: str = "mirrorsync-test-client") -> CertPair:
        """Issue a TLS client certificate, for registries that require one (``http.tls.clientcas``)."""
        return self._issue(name, common_name, [
            "basicConstraints = critical,CA:FALSE",
            "keyUsage = critical,digitalSignature",
            "extendedKeyUsage = clientAuth",
        ])

    def _issue(self, name: str, common_name: str, extensions: list[str]) -> CertPair:
        cert, key, csr = (self.directory / f"{name}.{ext}" for ext in ("crt", "key", "csr"))
        conf = _write_openssl_conf(self.directory / f"{name}.cnf", common_name,
                                   [*extensions, "subjectKeyIdentifier = hash",
                                    "authorityKeyIdentifier = keyid"])
        _openssl("req", "-new", *_EC_KEY, "-nodes", "-keyout", key, "-out", csr, "-config", conf)
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                 "-set_serial", "0x" + secrets.token_hex(16), "-days", "825", "-out", cert,
                 "-extfile", conf, "-extensions", "ext")
        csr.unlink()
        return CertPair(cert=cert, key=key)


def self_signed_rsa_cert(directory: Path, name: str, common_name: str) -> CertPair:
    """Make a self-signed RSA-2048 certificate, e.g. for signing RS256 registry tokens."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    conf = _write_openssl_conf(directory / f"{name}.cnf", common_name, [
        "basicConstraints = critical,CA:FALSE",
        "keyUsage = critical,digitalSignature",
        "subjectKeyIdentifier = hash",
    ])
    _openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
             "-days", "3650", "-config", conf, "-extensions", "ext")
    return CertPair(cert=cert, key=key)


@dataclass(frozen=True)
class TokenAuthConfig:
    """The registry side of Docker token auth: where clients get tokens and whose signatures to trust.

    ``rootcertbundle`` must hold the certificate of the key that signs the tokens (or a CA above it); the
    registry only accepts tokens whose JWT header carries that certificate chain in ``x5c``.
    """

    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


@dataclass(kw_only=True, eq=False)
class LocalRegistry:
    """A running ``docker-registry`` process on 127.0.0.1; ``stop()`` ends it (also usable as a context manager)."""

    host: str
    url: str
    root: Path
    workdir: Path
    config_path: Path
    log_path: Path
    access_log_path: Path
    ca_cert: Path | None = None
    cert_dir: Path | None = None
    client_cert: CertPair | None = None
    username: str | None = None
    password: str | None = None
    token: TokenAuthConfig | None = None
    process: subprocess.Popen[bytes] = field(repr=False)
    _logs: list[IO[bytes]] = field(default_factory=list, repr=False)

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1."""
        return int(self.host.rsplit(":", 1)[1])

    @property
    def tls(self) -> bool:
        """Whether the registry speaks HTTPS."""
        return self.url.startswith("https://")

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.process.poll() is None

    def read_log(self) -> str:
        """The registry's own log (level warn and above; access log lines are in ``access_log_path``)."""
        return self.log_path.read_text(errors="replace")

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What to pass as httpx's ``verify`` to talk to this registry (trusts its CA, presents the client cert)."""
        if not self.tls:
            return True
        ctx = ssl.create_default_context(cafile=str(self.ca_cert) if self.ca_cert else None)
        if self.client_cert:
            ctx.load_cert_chain(str(self.client_cert.cert), str(self.client_cert.key))
        return ctx

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the registry and wait for it; safe to call more than once. Storage stays on disk."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for handle in self._logs:
            handle.close()
        self._logs.clear()
        _RUNNING.discard(self)

    def __enter__(self) -> LocalRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()



# Registries not stopped explicitly are stopped when the interpreter exits normally.
_RUNNING: set[LocalRegistry] = set()


@atexit.register
def _stop_all() -> None:
    for registry in list(_RUNNING):
        registry.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago (nothing reserves it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def htpasswd_line(username: str, password: str) -> str:
    """A bcrypt htpasswd line as docker-registry wants it, made with ``htpasswd`` (apache2-utils)."""
    tool = shutil.which("htpasswd")
    if tool is None:
        raise DevRegistryError(f"htpasswd not found (Debian package apache2-utils); {INSTALL_HINT}")
    # Cost 4 (the minimum): the registry checks the bcrypt hash on every request, and this is a test password.
    result = subprocess.run([tool, "-niBC", "4", username], input=password.encode(), capture_output=True)
    if result.returncode != 0:
        raise DevRegistryError(f"htpasswd failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode().strip()


def start_registry(workdir: Path, *, tls: bool = False, htpasswd: tuple[str, str] | None = None,
                   token: TokenAuthConfig | None = None, ca: TestCA | None = None, delete_enabled: bool = True,
                   client_auth: bool = False, startup_timeout: float = 20.0,
                   port: int | None = None) -> LocalRegistry:
    """Start ``docker-registry serve`` on an ephemeral 127.0.0.1 port and wait until ``/v2/`` answers.

    ``workdir`` holds its config, logs, certificates and ``storage/``; give each registry its own. ``port`` fixes
    the port (the demo does, so its manifest can name it); by default an ephemeral one is picked.
    ``tls`` serves HTTPS with a server cert from ``ca`` (a new ``TestCA`` in ``workdir/ca`` if None);
    ``client_auth`` also requires a client certificate from that CA (implies ``tls``). ``htpasswd`` is
    (user, password) for Basic auth; ``token`` switches to Docker token auth. Raises ``DevRegistryError``
    with the registry's log if it exits or does not answer in ``startup_timeout`` seconds.

    The process gets SIGTERM if the thread that started it ends (so a killed test run leaves no registry
    behind): start registries from a thread that outlives them, normally the main thread.
    """
    binary = shutil.which(REGISTRY_BINARY)
    if binary is None:
        raise DevRegistryError(f"{REGISTRY_BINARY} not found on PATH; {INSTALL_HINT}")
    if htpasswd and token:
        raise DevRegistryError("a registry takes either htpasswd or token auth, not both")
    tls = tls or client_auth
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / "storage"
    root.mkdir(exist_ok=True)

    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": delete_enabled},
            # The purger would otherwise run in the background of short test sessions for nothing.
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": "", "secret": secrets.token_hex(16)},
        "health": {"storagedriver": {"enabled": False}},
    }

    ca_cert = cert_dir = client = None
    if tls:
        ca = ca or TestCA.create(workdir / "ca")
        server = ca.issue_server_cert("server")
        config["http"]["tls"] = {"certificate": str(server.cert), "key": str(server.key)}
        ca_cert = ca.cert
        # The layout skopeo (--cert-dir) and containers/image (certs.d/HOST/) read: ca.crt, NAME.cert + NAME.key.
        cert_dir = workdir / "certs.d"
        cert_dir.mkdir(exist_ok=True)
        shutil.copyfile(ca.cert, cert_dir / "ca.crt")
        if client_auth:
            config["http"]["tls"]["clientcas"] = [str(ca.cert)]
            client = ca.issue_client_cert("client")
            shutil.copyfile(client.cert, cert_dir / "client.cert")
            shutil.copyfile(client.key, cert_dir / "client.key")

    username = password = None
    if htpasswd:
        username, password = htpasswd
        htpasswd_path = workdir / "htpasswd"
        htpasswd_path.write_text(htpasswd_line(username, password) + "\n")
        config["auth"] = {"htpasswd": {"realm": "mirrorsync-dev", "path": str(htpasswd_path)}}
    if token:
        config["auth"] = {"token": {"realm": token.realm, "service": token.service, "issuer": token.issuer,
                                    "rootcertbundle": str(token.rootcertbundle), "autoredirect": False}}

    # REGISTRY_* variables override the config file (REGISTRY_AUTH_FILE, meant for skopeo, would add an
    # "auth.file" section), so the registry gets an environment without them.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    # setpriv (util-linux) sets the parent-death signal before exec'ing the registry; no preexec_fn needed,
    # which is unsafe in a process with threads (the token server runs in one).
    setpriv = shutil.which("setpriv")
    prefix = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []

    scheme = "https" if tls else "http"
    config_path = workdir / "config.yml"
    log_path, access_log_path = workdir / "registry.log", workdir / "access.log"
    last_log = ""
    fixed_port = port
    for _ in range(1 if fixed_port else _PORT_ATTEMPTS):
        port = fixed_port or free_port()
        config["http"]["addr"] = f"127.0.0.1:{port}"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        log = open(log_path, "wb")
        access_log = open(access_log_path, "wb")
        process = subprocess.Popen([*prefix, binary, "serve", str(config_path)], stdin=subprocess.DEVNULL,
                                   stdout=access_log, stderr=log, env=env, cwd=workdir)
        registry = LocalRegistry(host=f"127.0.0.1:{port}", url=f"{scheme}://127.0.0.1:{port}", root=root,
                                 workdir=workdir, config_path=config_path, log_path=log_path,
                                 access_log_path=access_log_path, ca_cert=ca_cert, cert_dir=cert_dir,
                                 client_cert=client, username=username, password=password, token=token,
                                 process=process, _logs=[log, access_log])
        _RUNNING.add(registry)
        if _wait_until_up(registry, startup_timeout):
            return registry
        registry.stop()
        last_log = registry.read_log()
        if "address already in use" not in last_log:
            break
    if fixed_port and "address already in use" in last_log:
        raise DevRegistryError(f"port 127.0.0.1:{fixed_port} is in use: stop what listens there and try again")
    raise DevRegistryError(f"docker-registry did not start (config {config_path}, "
                           f"exit code {process.returncode}); its log:\n{last_log.strip() or '(empty)'}")


def _wait_until_up(registry: LocalRegistry, timeout: float) -> bool:
    """Poll ``/v2/`` until any HTTP answer (401 included); False if the process died or time ran out."""
    deadline = time.monotonic() + timeout
    with httpx.Client(verify=registry.ssl_context(), timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not registry.running:
                return False
            try:
                client.get(f"{registry.url}/v2/")
                return True
            except httpx.TransportError:
                time.sleep(0.02)
    return False


_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


def _write_openssl_conf(path: Path, common_name: str, extensions: list[str]) -> Path:
    # An explicit config keeps the system openssl.cnf (and its default extensions) out of the result.
    path.write_text("[req]\nprompt = no\ndistinguished_name = dn\n"
                    f"[dn]\nCN = {common_name}\n"
                    "[ext]\n" + "\n".join(extensions) + "\n")
    return path


def _openssl(*args: str | Path) -> None:
    tool = shutil.which("openssl")
    if tool is None:
        raise DevRegistryError(f"openssl not found on PATH; {INSTALL_HINT}")
    result = subprocess.run([tool, *map(str, args)], capture_output=True)
    if result.returncode != 0:
        raise DevRegistryError(f"openssl {args[0]} failed: {result.stderr.decode(errors='replace').strip()}")


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return True
    except OSError:
        return False
