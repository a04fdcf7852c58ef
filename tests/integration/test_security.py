"""Credentials stay where they belong, TLS is verified, and no shell ever sees user data.

Against the real docker-registry (Basic and token auth, TLS and mTLS) and the real ``mirrorsync`` command.
"""

from __future__ import annotations

import ast
import base64
import json
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import mirrorsync
from mirrorsync.cli.app import app
from devtools.devregistry import LocalRegistry
from support.cli import Run, mirrorsync as run_cli, realm_settings, registry_settings, write_manifest
from support.fault_proxy import FaultProxy, Rule, manifest_digest, oracle_client
from support.redirect_server import RecordingServer

pytestmark = pytest.mark.integration


def auth_entry(username: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}


def write_auths(path: Path, entries: dict[str, dict[str, str]], mode: int = 0o600) -> Path:
    path.write_text(json.dumps({"auths": entries}))
    path.chmod(mode)
    return path


def sync(tmp_path: Path, name: str, *, mirrors: list[str], images: list[dict[str, Any]],
         registries: dict[str, dict[str, Any]], args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Run:
    path = write_manifest(tmp_path / f"{name}.yaml", mirrors=mirrors, images=images, registries=registries,
                          options={"retries": 1})
    out = tmp_path / f"out-{name}"
    proc = run_cli("run", str(path), "--output-dir", str(out), *args,
                   env={"MIRRORSYNC_RETRY_WAIT": "0.01", **(env or {})})
    return Run(proc.returncode, proc.stdout, proc.stderr, out)


# --- credentials and redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_credentials_never_follow_a_blob_redirect_to_another_host(auth, request, tmp_path, mirror_registry, seed,
                                                                  unique_repo):
    registry: LocalRegistry = request.getfixturevalue("htpasswd_registry" if auth == "basic" else "token_registry")
    img = seed(registry, unique_repo("redirect"), "v1", kind="oci-index")
    with RecordingServer() as storage, FaultProxy(registry, [Rule("redirect", kinds={"blob-get"},
                                                                  redirect_to=storage)]) as proxy:
        authfile = write_auths(tmp_path / "auth.json", {proxy.host: auth_entry(registry.username, registry.password)})
        run = sync(tmp_path, "redirect", mirrors=[f"{mirror_registry.host}/redir"],
                   registries={proxy.host: {"tlsVerify": False}, mirror_registry.host: {"tlsVerify": False},
                               **realm_settings(registry)},
                   images=[{"source": f"{proxy.host}/{img.repository}:v1"}], args=("--authfile", str(authfile)))
        received = storage.requests
        seen = proxy.seen

    assert run.returncode == 0, run.stderr
    with oracle_client(mirror_registry) as client:
        assert manifest_digest(client, f"redir/{img.repository}", "v1") == img.digest
    assert sum(1 for s in seen if s.kind == "blob-get" and s.authorization) >= len(img.blobs), \
        "the registry itself must have been asked with credentials, or the test proves nothing"
    assert len({r.path for r in received}) >= len(img.blobs), "every blob must have come through the redirect"
    leaked = [r for r in received if "authorization" in r.headers or "cookie" in r.headers]
    assert leaked == [], f"credentials were sent to the redirect target: {leaked[0].headers if leaked else ''}"


def _files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from (p for p in root.rglob("*") if p.is_file())


def _find(needles: Iterable[str], texts: dict[str, bytes]) -> list[str]:
    return [f"{secret[:4]}... in {where}" for secret in needles for where, data in texts.items()
            if secret.encode() in data]


def test_secrets_appear_nowhere_mirrorsync_writes(tmp_path, make_registry, token_registry, seed, unique_repo,
                                                  closed_port):
    password, wrong = f"pw-{secrets.token_hex(12)}", f"wrong-{secrets.token_hex(12)}"
    gateway_secret = f"pg-{secrets.token_hex(12)}"
    source = make_registry("secret-source", htpasswd=("secret-user", password))
    source.username, source.password = "secret-user", password
    img = seed(source, unique_repo("secret"), "v1", kind="oci-index")
    # The same source behind a second host name (a proxy) with a wrong password; the mirror uses Bearer tokens,
    # and the proxy in front of it sees every token mirrorsync sends.
    misconfigured = FaultProxy(source).start()
    mirror = FaultProxy(token_registry).start()
    authfile = write_auths(tmp_path / "auth.json", {
        source.host: auth_entry("secret-user", password),
        misconfigured.host: auth_entry("secret-user", wrong),
        mirror.host: auth_entry(token_registry.username, token_registry.password)})
    env = {"REGISTRY_AUTH_FILE": str(authfile)}
    hosts = {h: {"tlsVerify": False} for h in (source.host, misconfigured.host, mirror.host)} | realm_settings(token_registry)
    images = [{"source": f"{source.host}/{img.repository}:v1"},
              {"source": f"{source.host}/{img.repository}-missing:v1"},
              {"source": f"{misconfigured.host}/{img.repository}", "allTags": True, "destination": "other"}]
    outputs: dict[str, bytes] = {}
    try:
        for fmt, engine, ok in (("text", "native", "copied"), ("json", "native", "up-to-date"),
                                ("text", "skopeo", "copied")):
            name = f"run-{fmt}-{engine}"
            run = sync(tmp_path, name, mirrors=[f"{mirror.host}/sec-{engine}"], images=images, registries=hosts,
                       env=env, args=("-v", "--log-format", fmt, "--engine", engine,
                                      "--metrics-file", str(tmp_path / f"{name}.prom"),
                                      "--pushgateway", f"http://pg:{gateway_secret}@127.0.0.1:{closed_port}/"))
            assert run.returncode == 1, run.stderr  # one copied, two failed: errors were written too
            assert {i["status"] for i in run.report["images"]} == {ok, "failed"}, run.report["images"]
            outputs[f"{name} stdout"], outputs[f"{name} stderr"] = run.stdout.encode(), run.stderr.encode()
        manifest = tmp_path / "run-text-native.yaml"
        for name, argv in {"plan": ["plan", str(manifest)],
                           "verify": ["verify", str(tmp_path / "out-run-text-native" / "report.json"),
                                      "--manifest", str(manifest)],
                           "export": ["export", str(manifest), "--to", str(tmp_path / "export"), "-v"],
                           "generate": ["generate", str(tmp_path / "out-run-text-native" / "report.json"),
                                        "-o", str(tmp_path / "generated")]}.items():
            proc = run_cli(*argv, env=env)
            outputs[f"{name} stdout"], outputs[f"{name} stderr"] = proc.stdout.encode(), proc.stderr.encode()
        commands = [c.name or c.callback.__name__ for c in app.registered_commands]
        for command in [None, *commands]:
            result = CliRunner().invoke(app, [*([command] if command else []), "--help"], env=env)
            assert result.exit_code == 0, result.output
            outputs[f"{command or 'mirrorsync'} --help"] = result.output.encode()
        tokens = {s.authorization.split(" ", 1)[1] for s in mirror.seen if s.authorization}
    finally:
        misconfigured.stop()
        mirror.stop()

    assert any(t.count(".") == 2 for t in tokens), "no Bearer token was used: the test proves nothing"
    report = (tmp_path / "out-run-text-native" / "report.json").read_text()
    assert "HTTP 401" in report and "HTTP 404" in report, "the failures whose messages are searched did not happen"
    for path in _files(tmp_path):
        if path != authfile:
            outputs[str(path)] = path.read_bytes()
    needles = [password, wrong, gateway_secret, token_registry.password, *tokens,
               *(auth_entry(u, p)["auth"] for u, p in [("secret-user", password), ("secret-user", wrong),
                                                        (token_registry.username, token_registry.password)])]
    assert _find(needles, outputs) == []


@pytest.mark.parametrize("content", [
    '{"auths": {"HOST": {"auth": "SECRET"}}}',  # not base64 of user:password
    '{"auths": {"HOST": {"auth": "SECRET"',  # broken JSON right after the secret
    '{"auths": {"HOST": {"username": "u", "password": "SECRET"}}, "x": SECRET}',  # a JSON error at the secret
])
def test_a_broken_auth_file_is_reported_without_its_contents(content, tmp_path, registry, seed, unique_repo):
    secret = f"topsecret{secrets.token_hex(8)}"
    img = seed(registry, unique_repo("x"), "v1", kind="oci", arches=("amd64",))
    authfile = tmp_path / "auth.json"
    authfile.write_text(content.replace("HOST", registry.host).replace("SECRET", secret))
    authfile.chmod(0o600)
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=["127.0.0.1:1/m"],
                              registries={registry.host: {"tlsVerify": False}},
                              images=[{"source": f"{registry.host}/{img.repository}", "allTags": True}])
    proc = run_cli("plan", str(manifest), "--authfile", str(authfile))
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if str(authfile) in line]
    assert len(lines) == 1, proc.stderr
    assert secret not in proc.stderr + proc.stdout


# --- TLS --------------------------------------------------------------------------------------------------------


def test_tls_is_verified_unless_the_registry_settings_turn_it_off(tmp_path, tls_registry, registry, mirror_registry,
                                                                   seed, unique_repo):
    img = seed(tls_registry, unique_repo("tls"), "v1", kind="oci")
    plain = seed(registry, unique_repo("plain"), "v1", kind="oci")
    mirror = {mirror_registry.host: {"tlsVerify": False}}

    def attempt(name: str, settings: dict[str, Any], source: str) -> Run:
        return sync(tmp_path, name, mirrors=[f"{mirror_registry.host}/{name}"], registries={**mirror, **settings},
                    images=[{"source": source}])

    # nothing said about the TLS registry: verified against the system CAs, so its test CA is refused
    default = attempt("default", {}, f"{tls_registry.host}/{img.repository}:v1")
    assert default.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in default.report["images"][0]["error"]
    # nothing said about a plain-HTTP registry: no silent fallback to HTTP
    downgrade = attempt("downgrade", {}, f"{registry.host}/{plain.repository}:v1")
    assert downgrade.returncode == 1, downgrade.stderr
    assert registry.host in downgrade.report["images"][0]["error"]
    with oracle_client(mirror_registry) as client:
        assert manifest_digest(client, f"downgrade/{plain.repository}", "v1") is None
    # the CA in certDir: verified and trusted
    trusted = attempt("trusted", {tls_registry.host: registry_settings(tls_registry)},
                      f"{tls_registry.host}/{img.repository}:v1")
    assert trusted.returncode == 0, trusted.stderr
    # tlsVerify: false skips verification
    insecure = attempt("insecure", {tls_registry.host: {"tlsVerify": False}}, f"{tls_registry.host}/{img.repository}:v1")
    assert insecure.returncode == 0, insecure.stderr
    with oracle_client(mirror_registry) as client:
        assert manifest_digest(client, f"insecure/{img.repository}", "v1") == img.digest


def test_mtls_client_certificate_from_cert_dir_for_pull_and_push(tmp_path, mtls_registry, seed, unique_repo):
    img = seed(mtls_registry, unique_repo("mtls"), "v1", kind="oci-index")
    ca_only = tmp_path / "ca-only"
    ca_only.mkdir()
    shutil.copyfile(mtls_registry.cert_dir / "ca.crt", ca_only / "ca.crt")
    images = [{"source": f"{mtls_registry.host}/{img.repository}:v1"}]

    without = sync(tmp_path, "without", mirrors=[f"{mtls_registry.host}/copy-a"], images=images,
                   registries={mtls_registry.host: {"tlsVerify": True, "certDir": str(ca_only)}})
    assert without.returncode == 1  # the mirror refuses the handshake: the preflight stops the run, one line
    assert not (without.output_dir / "report.json").exists()
    error = [line for line in without.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and f"mirror {mtls_registry.host}/copy-a: " in error[0], without.stderr

    with_cert = sync(tmp_path, "with", mirrors=[f"{mtls_registry.host}/copy-b"], images=images,
                     registries={mtls_registry.host: registry_settings(mtls_registry)})
    assert with_cert.returncode == 0, with_cert.stderr
    with oracle_client(mtls_registry) as client:
        assert manifest_digest(client, f"copy-b/{img.repository}", "v1") == img.digest
        assert manifest_digest(client, f"copy-a/{img.repository}", "v1") is None


# --- auth files -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode, warned", [(0o644, True), (0o640, True), (0o600, False)])
def test_an_auth_file_others_can_read_gets_a_warning(mode, warned, tmp_path, htpasswd_registry, mirror_registry,
                                                     seed, unique_repo):
    img = seed(htpasswd_registry, unique_repo("perm"), "v1", kind="oci")
    authfile = write_auths(tmp_path / "auth.json",
                           {htpasswd_registry.host: auth_entry(htpasswd_registry.username, htpasswd_registry.password)},
                           mode=mode)
    run = sync(tmp_path, "perm", mirrors=[f"{mirror_registry.host}/perm"],
               registries={htpasswd_registry.host: {"tlsVerify": False}, mirror_registry.host: {"tlsVerify": False}},
               images=[{"source": f"{htpasswd_registry.host}/{img.repository}:v1"}],
               args=("--authfile", str(authfile)))
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "readable by group or others" in line]
    if warned:
        assert len(warnings) == 1 and str(authfile) in warnings[0] and "chmod 600" in warnings[0], run.stderr
    else:
        assert warnings == []
    assert htpasswd_registry.password not in run.stderr


# --- no shell -----------------------------------------------------------------------------------------------------


_SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput")}
_SUBPROCESS = {"run", "Popen", "call", "check_call", "check_output"}


def test_no_shell_is_ever_given_user_data():
    """Every process mirrorsync starts gets an argument list, never a command line for a shell."""
    package = Path(mirrorsync.__file__).parent
    problems, spawns = [], 0
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
            where = f"{path.relative_to(package)}:{node.lineno}"
            if (owner, node.func.attr) in _SHELL_CALLS or (owner == "os" and node.func.attr.startswith("exec")):
                problems.append(f"{where}: {owner}.{node.func.attr}")
            if owner != "subprocess" or node.func.attr not in _SUBPROCESS:
                continue
            spawns += 1
            for kw in node.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    problems.append(f"{where}: shell={ast.unparse(kw.value)}")
            if node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr, ast.BinOp)):
                problems.append(f"{where}: a command string, not an argument list")
    assert spawns >= 1, "no subprocess call found: the scan looks in the wrong place"
    assert problems == []
