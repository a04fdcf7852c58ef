"""Which credentials and which TLS settings go where: auth.json keys scoped to a repository or namespace, the
default port, token realms over plain HTTP, and TLS settings that belong to one host only.

Against the real docker-registry (token auth, TLS, mTLS), the tests' token server and redirect target (over
HTTPS where it matters), and the real ``mirrorsync`` command with both engines.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from devtools.devregistry import TestCA
from devtools.samples import push_image
from support.cli import Run, mirrorsync as run_cli, realm_settings, write_manifest
from support.fault_proxy import FaultProxy, Rule, manifest_digest, oracle_client
from support.redirect_server import RecordingServer
from support.tcp_relay import TCPRelay
from support.tls import server_context
from support.token_server import TokenServer, TokenUser

pytestmark = pytest.mark.integration


def entry(username: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}


def write_auths(path: Path, entries: dict[str, dict[str, str]]) -> Path:
    path.write_text(json.dumps({"auths": entries}))
    path.chmod(0o600)
    return path


def sync(tmp_path: Path, name: str, *, mirrors: list[str], images: list[dict[str, Any]],
         registries: dict[str, dict[str, Any]], args: tuple[str, ...] = ()) -> Run:
    path = write_manifest(tmp_path / f"{name}.yaml", mirrors=mirrors, images=images, registries=registries,
                          options={"retries": 1})
    out = tmp_path / f"out-{name}"
    proc = run_cli("run", str(path), "--output-dir", str(out), *args, env={"MIRRORSYNC_RETRY_WAIT": "0.01"})
    return Run(proc.returncode, proc.stdout, proc.stderr, out)


def errors(run: Run) -> str:
    return " ".join(str(i.get("error")) + " " + " ".join(str(d.get("error")) for d in i.get("destinations") or [])
                    for i in run.report["images"])


# --- auth.json keys scoped to a repository or a namespace -----------------------------------------------------


@pytest.mark.parametrize("engine", ["native", "skopeo"])
def test_the_most_specific_auth_key_is_used_for_each_repository(engine, tmp_path, token_registry, token_server,
                                                                token_users, mirror_registry, seed, unique_repo):
    """``host/ns/app`` before ``host/ns`` before ``host``, as containers/image looks them up: the host key here
    holds a wrong password, so only a scoped key can make a copy work, and the token server says whose it was."""
    host = token_registry.host
    app = seed(token_registry, unique_repo("app"), "v1", kind="oci", arches=("amd64",), seed=1)
    namespace = unique_repo("ns")
    nested = seed(token_registry, f"{namespace}/lib", "v1", kind="oci", arches=("amd64",), seed=2)
    authfile = write_auths(tmp_path / "auth.json", {
        host: entry("alice", "not-the-password"),
        f"{host}/{namespace}": entry("reader", token_users["reader"].password),
        f"{host}/{app.repository}": entry("alice", token_users["alice"].password),
    })
    token_server.reset_counters()
    run = sync(tmp_path, engine, mirrors=[f"{mirror_registry.host}/scoped-{engine}"],
               registries={host: {"tlsVerify": False}, mirror_registry.host: {"tlsVerify": False},
                           **realm_settings(token_registry)},
               images=[{"source": f"{host}/{app.repository}:v1"}, {"source": f"{host}/{nested.repository}:v1"}],
               args=("--authfile", str(authfile), "--engine", engine))
    requests = token_server.requests

    assert run.returncode == 0, run.stderr + errors(run)
    with oracle_client(mirror_registry) as client:
        assert manifest_digest(client, f"scoped-{engine}/{app.repository}", "v1") == app.digest
        assert manifest_digest(client, f"scoped-{engine}/{nested.repository}", "v1") == nested.digest
    users = {scope: {r.user for r in requests if scope in r.scopes and r.status == 200}
             for scope in (f"repository:{app.repository}:pull", f"repository:{nested.repository}:pull")}
    assert users == {f"repository:{app.repository}:pull": {"alice"},
                     f"repository:{nested.repository}:pull": {"reader"}}, requests
    assert all(r.status == 200 for r in requests), "the host key's wrong password was tried"


# --- the default port -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("written, key, settings", [(":443", ":443", ":443"), (":443", "", ""), ("", ":443", ":443")])
def test_a_registry_on_the_default_port_gets_its_credentials_however_it_is_written(
        written, key, settings, tmp_path, make_registry, mirror_registry, pusher_for, unique_repo):
    """``host:443`` and ``host`` are one registry: on the wire (where httpx leaves the default port out of URLs),
    and between the image, its auth file key and its ``registries`` entry."""
    source = make_registry("port-443", tls=True, htpasswd=("port-user", "port-password"))
    img = push_image(pusher_for(source), unique_repo("p443"), "v1", kind="oci", arches=("amd64",))
    try:
        relay = TCPRelay(source.port, 443).start()
    except PermissionError:
        pytest.fail("binding a loopback address on port 443 needs root (or net.ipv4.ip_unprivileged_port_start "
                    "<= 443): run the tests as CI does, as root", pytrace=False)
    with relay:
        authfile = write_auths(tmp_path / "auth.json", {relay.address + key: entry("port-user", "port-password")})
        run = sync(tmp_path, "p443", mirrors=[f"{mirror_registry.host}/p443"],
                   registries={relay.address + settings: {"tlsVerify": False},
                               mirror_registry.host: {"tlsVerify": False}},
                   images=[{"source": f"{relay.address}{written}/{img.repository}:v1"}],
                   args=("--authfile", str(authfile)))
    assert run.returncode == 0, run.stderr + errors(run)
    with oracle_client(mirror_registry) as client:
        assert manifest_digest(client, f"p443/{img.repository}", "v1") == img.digest


# --- token realms ----------------------------------------------------------------------------------------------


def test_credentials_go_to_a_plain_http_realm_only_where_the_manifest_says_it_has_no_tls(
        tmp_path, token_registry, token_server, mirror_registry, seed, unique_repo):
    img = seed(token_registry, unique_repo("realm"), "v1", kind="oci", arches=("amd64",))
    authfile = write_auths(tmp_path / "auth.json",
                           {token_registry.host: entry(token_registry.username, token_registry.password)})
    hosts = {token_registry.host: {"tlsVerify": False}, mirror_registry.host: {"tlsVerify": False}}
    images = [{"source": f"{token_registry.host}/{img.repository}:v1"}]
    token_server.reset_counters()

    refused = sync(tmp_path, "refused", mirrors=[f"{mirror_registry.host}/refused"], registries=hosts,
                   images=images, args=("--authfile", str(authfile)))
    assert refused.returncode == 1, refused.stderr
    error = errors(refused)
    assert f"token realm http://{token_server.host}/token, which is not HTTPS" in error, error
    assert f"tlsVerify: false for {token_server.host}" in error
    assert token_registry.password not in error + refused.stderr + refused.stdout
    assert [r for r in token_server.requests if r.user] == [], "the credentials reached the realm"

    allowed = sync(tmp_path, "allowed", mirrors=[f"{mirror_registry.host}/allowed"],
                   registries={**hosts, token_server.host: {"tlsVerify": False}}, images=images,
                   args=("--authfile", str(authfile)))
    assert allowed.returncode == 0, allowed.stderr + errors(allowed)
    assert {r.user for r in token_server.requests} == {"alice"}
    with oracle_client(mirror_registry) as client:
        assert manifest_digest(client, f"allowed/{img.repository}", "v1") == img.digest


# --- TLS settings belong to one host ----------------------------------------------------------------------------


def ca_only(tmp_path: Path, name: str, ca: TestCA) -> str:
    """A certDir that trusts ``ca`` and holds no client certificate."""
    directory = tmp_path / name
    directory.mkdir()
    shutil.copyfile(ca.cert, directory / "ca.crt")
    return str(directory)


def test_a_registrys_tls_settings_do_not_reach_its_token_realm(tmp_path, make_registry, mirror_registry,
                                                               pusher_for, unique_repo):
    """The realm is HTTPS with a certificate from the registry's own CA, and asks for (without requiring) a client
    certificate: neither the registry's ``tlsVerify: false`` nor its client certificate may apply there."""
    ca = TestCA.create(tmp_path / "ca")
    users = {"robot": TokenUser("robot-password", {"*": {"*"}})}
    with TokenServer(tmp_path / "realm", users, tls=server_context(ca.issue_server_cert("realm"), ca.cert)) as realm:
        registry = make_registry("mtls-token", client_auth=True, ca=ca, token=realm.auth_config)
        registry.username, registry.password = "robot", "robot-password"
        img = push_image(pusher_for(registry), unique_repo("realm-tls"), "v1", kind="oci", arches=("amd64",))
        authfile = write_auths(tmp_path / "auth.json", {registry.host: entry("robot", "robot-password")})
        mirror = {mirror_registry.host: {"tlsVerify": False}}
        images = [{"source": f"{registry.host}/{img.repository}:v1"}]
        realm.reset_counters()

        # tlsVerify: false for the registry (its client certificate still in its certDir): the realm is verified
        insecure = sync(tmp_path, "insecure", mirrors=[f"{mirror_registry.host}/insecure"], images=images,
                        registries={**mirror, registry.host: {"tlsVerify": False, "certDir": str(registry.cert_dir)}},
                        args=("--authfile", str(authfile)))
        assert insecure.returncode == 1, insecure.stderr
        assert f"cannot connect to {realm.host} (where {registry.host} sent us): [SSL: CERTIFICATE_VERIFY_FAILED]" \
            in errors(insecure), errors(insecure)
        assert realm.requests == [], "the realm was asked without verifying its certificate"

        # the realm host trusted through its own certDir: it works, and the client certificate went nowhere else
        trusted = sync(tmp_path, "trusted", mirrors=[f"{mirror_registry.host}/trusted"], images=images,
                       registries={**mirror, registry.host: {"tlsVerify": True, "certDir": str(registry.cert_dir)},
                                   realm.host: {"certDir": ca_only(tmp_path, "realm-ca", ca)}},
                       args=("--authfile", str(authfile)))
        asked = realm.requests

    assert trusted.returncode == 0, trusted.stderr + errors(trusted)
    with oracle_client(mirror_registry) as client:
        assert manifest_digest(client, f"trusted/{img.repository}", "v1") == img.digest
    assert asked and {r.user for r in asked} == {"robot"}
    assert [r for r in asked if r.client_cert] == [], "the registry's client certificate was sent to its realm"


def test_a_registrys_tls_settings_do_not_reach_a_redirects_target(tmp_path, registry, mirror_registry, seed,
                                                                  unique_repo):
    """Blob downloads redirected to HTTPS storage: the registry's ``tlsVerify: false`` and client certificate
    stay with the registry; the storage host is verified, with its own certDir."""
    img = seed(registry, unique_repo("redirect-tls"), "v1", kind="oci", arches=("amd64",))
    ca = TestCA.create(tmp_path / "ca")
    client = ca.issue_client_cert("client")
    cert_dir = tmp_path / "registry-certs"
    cert_dir.mkdir()
    shutil.copyfile(client.cert, cert_dir / "client.cert")
    shutil.copyfile(client.key, cert_dir / "client.key")
    storage_tls = server_context(ca.issue_server_cert("storage"), ca.cert)
    with RecordingServer(tls=storage_tls) as storage, \
            FaultProxy(registry, [Rule("redirect", kinds={"blob-get"}, redirect_to=storage)]) as proxy:
        source = {proxy.host: {"tlsVerify": False, "certDir": str(cert_dir)}, mirror_registry.host: {"tlsVerify": False}}
        images = [{"source": f"{proxy.host}/{img.repository}:v1"}]
        unverified = sync(tmp_path, "unverified", mirrors=[f"{mirror_registry.host}/unverified"], images=images,
                          registries=source)
        assert unverified.returncode == 1, unverified.stderr
        assert "CERTIFICATE_VERIFY_FAILED" in errors(unverified), errors(unverified)
        assert storage.requests == [], "a blob was fetched from storage whose certificate was not verified"

        storage_host = storage.url.removeprefix("https://")
        verified = sync(tmp_path, "verified", mirrors=[f"{mirror_registry.host}/verified"], images=images,
                        registries={**source, storage_host: {"certDir": ca_only(tmp_path, "storage-ca", ca)}})
        received = storage.requests

    assert verified.returncode == 0, verified.stderr + errors(verified)
    with oracle_client(mirror_registry) as oracle:
        assert manifest_digest(oracle, f"verified/{img.repository}", "v1") == img.digest
    assert len({r.path for r in received}) >= len(img.blobs), "the blobs did not come through the redirect"
    assert [r for r in received if r.client_cert] == [], "the registry's client certificate went to the storage"
