"""mirrorsync's registry client against the real docker-registry."""

from __future__ import annotations

from collections import Counter

import pytest

from mirrorsync.registry.auth import Credentials
from mirrorsync.oci.content import Descriptor, sha256_digest
from mirrorsync.errors import AuthError, NotFound, RegistryError
from mirrorsync.sync.manifest import RegistrySettings
from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import RetryPolicy
from support.clients import client_for

pytestmark = pytest.mark.integration


def test_tag_list_follows_link_pagination_and_sorts(registry, seed, unique_repo):
    repo = unique_repo("tags")
    tags = ["v10", "v2", "latest", "a", "v1"]
    for i, tag in enumerate(tags):
        seed(registry, repo, tag, kind="oci", arches=("amd64",), seed=i)
    client = client_for(registry)
    client.tags_page_size = 2
    try:
        assert client.list_tags(repo) == sorted(tags)
    finally:
        client.close()


def test_manifest_head_get_and_missing(registry, seed, unique_repo):
    img = seed(registry, unique_repo("m"), "v1")
    client = client_for(registry)
    try:
        head = client.manifest_descriptor(img.repository, "v1")
        assert head.digest == img.digest and head.media_type.startswith("application/vnd.oci.image.index")
        got = client.get_manifest(img.repository, "v1")
        assert got.digest == img.digest == sha256_digest(got.data)
        assert sorted(c.digest for c in got.children) == sorted(img.children.values())
        assert client.manifest_descriptor(img.repository, "nope") is None
        with pytest.raises(NotFound):
            client.get_manifest(img.repository, "nope")
    finally:
        client.close()


def test_blob_upload_is_checked_by_the_registry_and_mount_works(registry, unique_repo):
    client = client_for(registry)
    a, b = unique_repo("a"), unique_repo("b")
    data = b"mirrorsync blob" * 1000
    desc = Descriptor("application/octet-stream", sha256_digest(data), len(data))
    try:
        client.write_blob(a, desc, iter([data[:5000], data[5000:]]))
        assert client.has_blob(a, desc.digest)
        with client.read_blob(a, desc) as chunks:
            assert b"".join(chunks) == data
        assert not client.has_blob(b, desc.digest)
        assert client.mount_blob(b, desc.digest, a) is True
        assert client.has_blob(b, desc.digest)
        missing = "sha256:" + "0" * 64
        assert client.mount_blob(b, missing, a) is False

        wrong = Descriptor("application/octet-stream", sha256_digest(b"other bytes!!"), len(data))
        with pytest.raises(RegistryError, match="DIGEST_INVALID|BAD_REQUEST|400"):
            client.write_blob(a, wrong, iter([data]))
        assert not client.has_blob(a, wrong.digest)
    finally:
        client.close()


@pytest.mark.parametrize("which", ["registry", "token_registry"])
def test_once_a_mount_is_honoured_reuse_is_asked_by_mounting_and_the_upload_uses_that_session(
        request, which, unique_repo):
    reg = request.getfixturevalue(which)
    client = client_for(reg)
    a, b = unique_repo("pa"), unique_repo("pb")

    def blob(text: bytes) -> tuple[Descriptor, bytes]:
        data = text * 500
        return Descriptor("application/octet-stream", sha256_digest(data), len(data)), data

    shared, shared_data = blob(b"shared layer")
    new, new_data = blob(b"a new layer")
    unused, _ = blob(b"never written")
    try:
        client.write_blob(a, shared, iter([shared_data]))
        assert client.mount_blob(b, shared.digest, a) is True
        assert client.try_reusing_blob(b, new.digest).present is False
        client.write_blob(b, new, iter([new_data]))
        assert client.try_reusing_blob(b, new.digest).present is True
        with client.read_blob(b, new) as chunks:
            assert b"".join(chunks) == new_data
        assert client.try_reusing_blob(b, unused.digest).present is False  # opens a session nobody uses
    finally:
        client.close()
    lines = [ln for ln in reg.access_log_path.read_text().splitlines() if f"/v2/{b}/" in ln]
    requests = [ln.split('"')[1].split()[0] + " " + ln.split('"')[2].split()[0] for ln in lines]
    requests = [r for r in requests if not r.endswith(" 401")]  # token challenges, answered and re-sent
    assert not any(ln.startswith("HEAD") for ln in requests), requests
    # the mount, the probe that opened the upload, the probe that found it, the probe for the unused blob
    assert [r for r in requests if r.startswith("POST")] == ["POST 201", "POST 202", "POST 201", "POST 202"]
    assert requests.count("PUT 201") == 1, "the upload went into the probe's session, not a new one"
    assert "DELETE 204" in requests, "close() ends the session opened for a blob that was not written"


def test_basic_auth_and_wrong_password(htpasswd_registry, seed, unique_repo):
    img = seed(htpasswd_registry, unique_repo("auth"), "v1")
    good = client_for(htpasswd_registry)
    bad = RegistryClient(htpasswd_registry.host, settings=RegistrySettings(tls_verify=False),
                         credentials=Credentials(htpasswd_registry.username, "Not-The-Pa55word"),
                         policy=RetryPolicy(attempts=1))
    try:
        assert good.manifest_descriptor(img.repository, "v1").digest == img.digest
        with pytest.raises(AuthError) as info:
            bad.get_manifest(img.repository, "v1")
        assert "Not-The-Pa55word" not in str(info.value)
    finally:
        good.close()
        bad.close()


def test_token_scopes_per_repository(token_registry, token_server, seed, unique_repo):
    img = seed(token_registry, unique_repo("tok"), "v1")
    client = client_for(token_registry)
    try:
        before = token_server.issued
        assert client.get_manifest(img.repository, "v1").digest == img.digest
        assert client.get_manifest(img.repository, img.digest).digest == img.digest
        assert token_server.issued == before + 1, "one pull token serves every request on that repository"
    finally:
        client.close()


def manifest_requests(reg, repo: str) -> Counter[str]:
    """``"METHOD STATUS"`` of every request for ``repo``'s manifests in the registry's access log."""
    lines = [ln for ln in reg.access_log_path.read_text().splitlines() if f"/v2/{repo}/manifests/" in ln]
    return Counter(ln.split('"')[1].split()[0] + " " + ln.split('"')[2].split()[0] for ln in lines)


@pytest.mark.parametrize("which", ["registry", "tls_registry", "htpasswd_registry", "token_registry"])
def test_manifest_heads_agree_with_get_and_cost_one_request_each(request, monkeypatch, which, seed, unique_repo):
    # HEADs go out on the lean path once the client knows how the registry authenticates: same answers as the
    # full path, and no request twice (only a Bearer registry's first HEAD in a scope meets a challenge)
    reg = request.getfixturevalue(which)
    img = seed(reg, unique_repo("heads"), "v1")
    client = client_for(reg)
    through_httpx: list[str] = []
    send = client._client.send

    def counting_send(req, **kw):
        through_httpx.append(req.method)
        return send(req, **kw)

    monkeypatch.setattr(client._client, "send", counting_send)
    try:
        heads = [client.manifest_descriptor(img.repository, ref) for ref in ("v1", "v1", img.digest, "v1")]
        missing = client.manifest_descriptor(img.repository, "nope")
        got = client.get_manifest(img.repository, "v1")
    finally:
        client.close()
    assert heads == [Descriptor(got.media_type, img.digest, len(got.data))] * 4
    assert missing is None
    heads_sent = {k: v for k, v in manifest_requests(reg, img.repository).items() if k.startswith("HEAD")}
    challenged = {"HEAD 401": 1} if which == "token_registry" else {}
    assert heads_sent == {"HEAD 200": 4, "HEAD 404": 1, **challenged}
    # httpx sent only the HEAD that met the registry first: TLS has no plain-HTTP probe (a GET) before it
    assert through_httpx.count("HEAD") == (1 if which in ("tls_registry", "token_registry") else 0)


def test_a_token_the_registry_no_longer_takes_is_renewed_for_a_lean_head(token_registry, token_server, seed,
                                                                         unique_repo):
    img = seed(token_registry, unique_repo("renew"), "v1")
    client = client_for(token_registry)
    try:
        assert client.manifest_descriptor(img.repository, "v1").digest == img.digest
        before = token_server.issued
        for token in client.auth._tokens.values():  # as after a token service's key rotation
            token.value = "not-a-token-it-signed"
        assert client.manifest_descriptor(img.repository, "v1").digest == img.digest
        assert token_server.issued == before + 1
    finally:
        client.close()
    assert manifest_requests(token_registry, img.repository)["HEAD 200"] == 2
