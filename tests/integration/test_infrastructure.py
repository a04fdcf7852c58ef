"""The test infrastructure itself, checked with real clients: registries, token server, samples, skopeo helpers.

Every digest samples.py reports is compared with the sha256 of the bytes the real skopeo fetched.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx
import pytest

import devtools.devregistry as devregistry
from devtools.devregistry import DevRegistryError, TokenAuthConfig
from devtools.samples import (DOCKER_MANIFEST_LIST, OCI_INDEX, SAMPLE_ARTIFACT_TYPE, SampleError,
                              push_image)
from support.skopeo import SkopeoError

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]  # where ``python -m devtools.samples`` finds devtools
VARIANTS = ["registry", "tls_registry", "mtls_registry", "htpasswd_registry", "token_registry"]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def platform_key(platform: dict[str, str]) -> str:
    return "/".join(p for p in (platform["os"], platform["architecture"], platform.get("variant")) if p)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kind, media_type", [("oci-index", OCI_INDEX), ("docker-list", DOCKER_MANIFEST_LIST)])
def test_multiarch_digests_match_skopeo(variant, kind, media_type, request, seed, skopeo, skopeo_opts,
                                        skopeo_inspect_digest):
    registry = request.getfixturevalue(variant)
    opts = skopeo_opts(registry)
    image = seed(registry, kind=kind, arches=("amd64", "arm64"))

    raw = skopeo.inspect_raw(image.reference, **opts)
    assert sha256(raw) == image.digest
    index = json.loads(raw)
    assert index["mediaType"] == media_type
    assert {platform_key(m["platform"]): m["digest"] for m in index["manifests"]} == image.children
    assert set(image.children) == {"linux/amd64", "linux/arm64"}

    for child in image.children.values():
        child_ref = f"{registry.host}/{image.repository}@{child}"
        assert skopeo_inspect_digest(child_ref, **opts) == child
        manifest = json.loads(skopeo.inspect_raw(child_ref, **opts))
        referenced = [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]
        assert len(manifest["layers"]) == 2
        assert set(referenced) <= set(image.blobs)


@pytest.mark.parametrize("kind", ["oci", "docker"])
def test_single_manifest_layers_and_platform(kind, registry, seed, skopeo):
    image = seed(registry, kind=kind, arches=("arm64",), layers=3, layer_size=5000)
    info = json.loads(skopeo.run("inspect", "--tls-verify=false", f"docker://{image.reference}").stdout)
    assert info["Digest"] == image.digest
    assert info["Architecture"] == "arm64"
    assert image.children == {}
    # The config comes first in .blobs, then the layers in manifest order.
    assert info["Layers"] == list(image.blobs[1:])
    layer = skopeo.run("inspect", "--tls-verify=false", "--raw", f"docker://{image.reference}").stdout
    sizes = [d["size"] for d in json.loads(layer)["layers"]]
    assert all(s > 5000 for s in sizes), "a gzip'd tar of 5000 random bytes cannot be smaller than them"


def test_layers_are_gzipped_tars_matching_config_diff_ids(registry, seed, skopeo):
    image = seed(registry, kind="docker", arches=("amd64",), layers=2, layer_size=3000)
    manifest = json.loads(skopeo.inspect_raw(image.reference, tls_verify=False))
    blob_url = f"{registry.url}/v2/{image.repository}/blobs/"
    config = httpx.get(blob_url + manifest["config"]["digest"]).json()
    assert config["architecture"] == "amd64"
    for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"], strict=True):
        data = httpx.get(blob_url + layer["digest"]).content
        assert sha256(data) == layer["digest"]
        tar_bytes = gzip.decompress(data)
        assert sha256(tar_bytes) == diff_id
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
            assert [m.size for m in tar.getmembers()] == [3000]


def test_artifact_with_subject(registry, seed, skopeo):
    artifact = seed(registry, artifact=True)
    assert artifact.tag is None
    raw = skopeo.inspect_raw(artifact.digest_reference, tls_verify=False)
    assert sha256(raw) == artifact.digest
    manifest = json.loads(raw)
    assert manifest["artifactType"] == SAMPLE_ARTIFACT_TYPE
    assert manifest["subject"]["digest"] == artifact.subject
    subject_raw = skopeo.inspect_raw(f"{registry.host}/{artifact.repository}:latest", tls_verify=False)
    assert sha256(subject_raw) == artifact.subject
    assert manifest["subject"]["size"] == len(subject_raw)


def test_base_layer_shared_across_repositories(registry, seed, skopeo):
    first, second = seed(registry, kind="oci"), seed(registry, kind="oci")
    assert first.repository != second.repository
    layers = [json.loads(skopeo.inspect_raw(i.reference, tls_verify=False))["layers"] for i in (first, second)]
    assert layers[0][0]["digest"] == layers[1][0]["digest"]
    assert layers[0][1]["digest"] != layers[1][1]["digest"]


def test_same_seed_same_digests_in_another_registry(registry, mirror_registry, seed, unique_repo,
                                                   skopeo_inspect_digest):
    repo = unique_repo()
    here = seed(registry, repo, seed=7)
    there = seed(mirror_registry, repo, seed=7)
    other_seed = seed(mirror_registry, repo, "other", seed=8)
    assert here.digest == there.digest == skopeo_inspect_digest(there.reference, tls_verify=False)
    assert here.children == there.children
    assert other_seed.digest != here.digest


@pytest.mark.parametrize("source, destination", [("registry", "mirror_registry"),
                                                 ("htpasswd_registry", "tls_registry"),
                                                 ("token_registry", "mtls_registry")])
def test_skopeo_copy_all_preserves_index_digest(source, destination, request, seed, unique_repo, skopeo,
                                                skopeo_opts, skopeo_inspect_digest):
    src, dst = request.getfixturevalue(source), request.getfixturevalue(destination)
    image = seed(src, kind="oci-index", arches=("amd64", "arm64", "arm/v7"))
    target = f"{dst.host}/{unique_repo('copy')}:{image.tag}"
    skopeo.copy(image.reference, target, src_registry=src, dst_registry=dst)
    assert skopeo_inspect_digest(target, **skopeo_opts(dst)) == image.digest
    repo = target.rsplit(":", 1)[0]
    for child in image.children.values():
        assert skopeo_inspect_digest(f"{repo}@{child}", **skopeo_opts(dst)) == child


def test_token_server_refuses_wrong_password(token_registry, token_server, seed, skopeo, skopeo_opts):
    image = seed(token_registry, kind="oci")
    issued = token_server.issued
    response = httpx.get(token_server.realm, auth=("alice", "wrong"),
                         params={"service": token_server.service,
                                 "scope": f"repository:{image.repository}:pull"})
    assert response.status_code == 401
    assert "token" not in response.json()
    with pytest.raises(SkopeoError):
        skopeo.inspect_raw(image.reference, **skopeo_opts(token_registry, creds="alice:wrong"))
    with pytest.raises(SkopeoError):
        skopeo.inspect_raw(image.reference, **skopeo_opts(token_registry, creds="nobody:alice-password"))
    assert token_server.issued == issued
    assert [r.status for r in token_server.requests[-3:]] == [401, 401, 401]


def test_token_grants_only_allowed_actions(token_registry, token_server, token_users, seed, pusher_for,
                                           skopeo, skopeo_opts):
    image = seed(token_registry, kind="oci")
    reader = f"reader:{token_users['reader'].password}"
    assert sha256(skopeo.inspect_raw(image.reference, **skopeo_opts(token_registry, creds=reader))) == image.digest

    before = len(token_server.requests)
    with pytest.raises(SampleError, match="401"):
        push_image(pusher_for(token_registry, "reader", token_users["reader"].password), image.repository, "x",
                   kind="oci")
    # the token server is shared by the session: look only at this push's requests, not at whatever came last
    seen = token_server.requests[before:]
    # docker-registry names the actions of a challenge's scope in Go map order: "pull,push" or "push,pull"
    asked = [r for r in seen if r.user == "reader" and len(r.scopes) == 1
             and r.scopes[0].rpartition(":")[0] == f"repository:{image.repository}"
             and sorted(r.scopes[0].rpartition(":")[2].split(",")) == ["pull", "push"]]
    assert asked, seen
    assert all(r.access == ({"type": "repository", "name": image.repository, "actions": ["pull"]},) for r in asked)

    scoped = pusher_for(token_registry, "scoped", token_users["scoped"].password)
    pushed = push_image(scoped, "scoped/ok", "v1", kind="oci")
    assert skopeo.inspect_raw(pushed.reference, **skopeo_opts(token_registry, creds=f"scoped:{token_users['scoped'].password}"))
    with pytest.raises(SampleError, match="401"):
        push_image(scoped, "elsewhere/no", "v1", kind="oci")


def test_anonymous_token_grants_nothing(token_registry, seed, skopeo):
    image = seed(token_registry, kind="oci")
    with pytest.raises(SkopeoError, match="(?i)unauthorized|authentication required"):
        skopeo.inspect_raw(image.reference, tls_verify=False)


def test_short_lived_token_really_expires(token_registry, token_server, seed):
    image = seed(token_registry, kind="oci")
    url = f"{token_registry.url}/v2/{image.repository}/manifests/{image.tag}"
    token = token_server.issue("alice", [{"type": "repository", "name": image.repository, "actions": ["pull"]}],
                               lifetime=1)
    headers = {"Authorization": f"Bearer {token}", "Accept": image.media_type}
    assert httpx.get(url, headers=headers).status_code == 200
    time.sleep(2.2)
    assert httpx.get(url, headers=headers).status_code == 401


def test_htpasswd_registry_needs_credentials(htpasswd_registry, seed, skopeo, skopeo_opts):
    image = seed(htpasswd_registry, kind="oci")
    with pytest.raises(SkopeoError):
        skopeo.inspect_raw(image.reference, tls_verify=False)
    with pytest.raises(SkopeoError):
        skopeo.inspect_raw(image.reference, **skopeo_opts(htpasswd_registry, creds="mirror-user:wrong"))


def test_tls_registry_is_not_trusted_without_its_ca(tls_registry, seed, skopeo):
    image = seed(tls_registry, kind="oci")
    with pytest.raises(SkopeoError, match="(?i)certificate"):
        skopeo.inspect_raw(image.reference, tls_verify=True)


def test_mtls_registry_needs_client_certificate(mtls_registry, seed, skopeo, tmp_path):
    image = seed(mtls_registry, kind="oci")
    (tmp_path / "ca.crt").write_bytes(mtls_registry.ca_cert.read_bytes())
    with pytest.raises(SkopeoError):
        skopeo.inspect_raw(image.reference, tls_verify=True, cert_dir=tmp_path)


def test_closed_port_refuses_connections(closed_port):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", closed_port), timeout=2)


def test_stopped_registry_is_gone(make_registry):
    local = make_registry("short-lived")
    assert httpx.get(f"{local.url}/v2/").status_code == 200
    local.stop()
    assert local.process.returncode is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{local.url}/v2/")
    local.stop()  # a second stop is harmless


def test_start_failure_shows_registry_log(tmp_path):
    broken = TokenAuthConfig(realm="http://127.0.0.1:1/token", service="s", issuer="i",
                             rootcertbundle=tmp_path / "missing.crt")
    with pytest.raises(DevRegistryError, match="missing.crt"):
        devregistry.start_registry(tmp_path / "reg", token=broken)


def test_start_retries_when_port_is_taken(tmp_path, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        real_free_port = devregistry.free_port
        monkeypatch.setattr(devregistry, "free_port", lambda: next(ports, None) or real_free_port())
        with devregistry.start_registry(tmp_path / "reg") as local:
            assert local.port != taken.getsockname()[1]
            assert httpx.get(f"{local.url}/v2/").status_code == 200


def test_samples_cli_reports_what_it_pushed(registry, unique_repo, skopeo_inspect_digest):
    prefix = unique_repo("cli")
    result = subprocess.run([sys.executable, "-m", "devtools.samples", "--registry", registry.host,
                             "--repos", "2", "--tags", "2", "--arches", "amd64,arm64", "--layers", "2",
                             "--layer-size", "2048", "--prefix", prefix, "--insecure"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["tags"]) == 4
    for name, digest in report["tags"].items():
        assert skopeo_inspect_digest(f"{registry.host}/{name}", tls_verify=False) == digest


def test_samples_cli_fails_clearly(closed_port):
    result = subprocess.run([sys.executable, "-m", "devtools.samples", "--registry", f"127.0.0.1:{closed_port}",
                             "--insecure"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("devtools.samples: ")
