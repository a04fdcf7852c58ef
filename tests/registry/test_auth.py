import base64
import json
import logging

import httpx
import pytest

from mirrorsync.registry import auth
from mirrorsync.errors import InputError
from mirrorsync.registry.retry import TransientError, is_transient


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.fixture
def home(tmp_path, monkeypatch):
    for var in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    return tmp_path


def write(path, auths, mode=0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": auths}))
    path.chmod(mode)
    return path


def test_search_order_containers_before_docker(home):
    write(home / ".docker" / "config.json", {"quay.io": {"auth": b64("docker:d")}})
    assert auth.lookup("quay.io").username == "docker"
    write(home / ".config" / "containers" / "auth.json", {"quay.io": {"auth": b64("user:u")}})
    assert auth.lookup("quay.io").username == "user"
    write(home / "run" / "containers" / "auth.json", {"quay.io": {"auth": b64("runtime:r")}})
    assert auth.lookup("quay.io").username == "runtime"


def test_explicit_file_is_the_only_one(home, monkeypatch):
    write(home / ".docker" / "config.json", {"quay.io": {"auth": b64("docker:d")}})
    explicit = write(home / "explicit.json", {"other.io": {"auth": b64("x:y")}})
    assert auth.lookup("quay.io", auth_file=str(explicit)) is None
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(explicit))
    assert auth.lookup("quay.io") is None
    assert auth.lookup("other.io").password == "y"


def test_a_named_file_must_exist_a_default_one_need_not(home, monkeypatch):
    assert auth.lookup("quay.io") is None  # none of the default files exists: anonymous
    with pytest.raises(InputError, match="auth file not found") as info:
        auth.lookup("quay.io", auth_file=str(home / "typo.json"))
    assert info.value.exit_code == 2 and str(home / "typo.json") in str(info.value)
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(home / "missing.json"))
    assert auth.lookup("quay.io") is None  # as containers/image: a missing REGISTRY_AUTH_FILE is an empty one


def test_most_specific_key_and_legacy_keys(home):
    f = write(home / "a.json", {
        "quay.io": {"auth": b64("host:h")},
        "quay.io/team": {"auth": b64("team:t")},
        "https://index.docker.io/v1/": {"auth": b64("hub:p:with:colons")},
    })
    assert auth.lookup("quay.io", "team/app", auth_file=str(f)).username == "team"
    assert auth.lookup("quay.io", "other/app", auth_file=str(f)).username == "host"
    hub = auth.lookup("docker.io", "library/busybox", auth_file=str(f))
    assert (hub.username, hub.password) == ("hub", "p:with:colons")


def test_bad_files_are_one_line_errors_without_content(home):
    f = home / "bad.json"
    f.write_text('{"auths": {"quay.io": {"auth": "s3cret-not-base64!"}}}')
    with pytest.raises(InputError) as info:
        auth.lookup("quay.io", auth_file=str(f))
    assert "s3cret" not in str(info.value) and str(f) in str(info.value)
    f.write_text('{"auths": ')
    with pytest.raises(InputError, match="invalid JSON"):
        auth.lookup("quay.io", auth_file=str(f))


def test_readable_auth_file_warns(home, caplog):
    f = write(home / "open.json", {"quay.io": {"auth": b64("u:p")}}, mode=0o644)
    with caplog.at_level(logging.WARNING, logger="mirrorsync"):
        auth.lookup("quay.io", auth_file=str(f))
    assert "readable by group or others" in caplog.text


def test_credentials_repr_hides_password():
    assert "hunter2" not in repr(auth.Credentials("u", "hunter2"))


def test_parse_challenge():
    scheme, params = auth.parse_challenge('Bearer realm="https://auth.io/token",service="reg",scope="repository:a:pull"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.io/token", "service": "reg", "scope": "repository:a:pull"}


def test_scope_for_requests():
    get = httpx.Request("GET", "https://r.io/v2/ns/app/manifests/v1")
    put = httpx.Request("POST", "https://r.io/v2/ns/app/blobs/uploads/?mount=sha256:x&from=other/repo")
    assert auth.scope_for(get) == "repository:ns/app:pull"
    assert auth.scope_for(put) == "repository:ns/app:pull,push repository:other/repo:pull"
    assert auth.scope_for(httpx.Request("GET", "https://r.io/v2/")) is None
    self_mount = httpx.Request("POST", "https://r.io/v2/ns/app/blobs/uploads/?mount=sha256:x&from=ns/app")
    assert auth.scope_for(self_mount) == "repository:ns/app:pull,push", "the upload that follows reuses its token"


def _token_registry(expected_basic: str, tokens: list[str]):
    """A fake registry + token realm: 401 with a Bearer challenge unless the token is right."""
    issued = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.io":
            assert request.headers.get("Authorization") == expected_basic
            token = tokens[len(issued)]
            issued.append(request.url.params.get_list("scope"))
            return httpx.Response(200, json={"token": token, "expires_in": 300})
        if request.headers.get("Authorization") == f"Bearer {tokens[len(issued) - 1] if issued else None}":
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="https://auth.io/token",service="r.io"'})

    return handler, issued


def test_bearer_flow_fetches_and_caches_tokens_per_scope():
    basic = "Basic " + b64("u:p")
    handler, issued = _token_registry(basic, ["t1", "t2"])
    client = httpx.Client(transport=httpx.MockTransport(handler), auth=auth.RegistryAuth("r.io", auth.Credentials("u", "p")))
    assert client.get("https://r.io/v2/a/manifests/v1").status_code == 200
    assert client.get("https://r.io/v2/a/manifests/v2").status_code == 200
    assert issued == [["repository:a:pull"]], "the cached token serves the same scope"
    assert client.put("https://r.io/v2/a/manifests/v3", content=b"{}").status_code == 200
    assert issued[-1] == ["repository:a:pull,push"]


def test_a_streamed_upload_gets_its_token_first_and_is_never_sent_twice():
    basic = "Basic " + b64("u:p")
    handler, issued = _token_registry(basic, ["t1", "t2", "t3"])
    sent: list[tuple[str, str | None, bytes]] = []

    def recording(request: httpx.Request) -> httpx.Response:
        if request.url.host == "r.io" and request.method == "PUT":
            sent.append((request.url.path, request.headers.get("Authorization"), request.read()))
            if request.url.path.endswith("/refused"):
                return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="https://auth.io/token"'})
        return handler(request)

    client = httpx.Client(transport=httpx.MockTransport(recording),
                          auth=auth.RegistryAuth("r.io", auth.Credentials("u", "p")))
    assert client.get("https://r.io/v2/a/manifests/v1").status_code == 200  # learns the Bearer challenge
    response = client.put("https://r.io/v2/a/blobs/uploads/1", content=iter([b"layer ", b"bytes"]))
    assert response.status_code == 200
    assert issued[-1] == ["repository:a:pull,push"]
    assert sent == [("/v2/a/blobs/uploads/1", "Bearer t2", b"layer bytes")], "one send, already authorised"
    # a 401 to a stream already read is not replayed (that would send an empty body): the credentials are
    # renewed and the caller gets an error its retry policy retries
    fetched = len(issued)
    with pytest.raises(TransientError, match="r.io refused the credentials") as info:
        client.put("https://r.io/v2/a/blobs/uploads/refused", content=iter([b"x"]))
    assert is_transient(info.value)
    assert len(issued) == fetched + 1, "a new token for the next attempt"
    assert [p for p, _a, _b in sent].count("/v2/a/blobs/uploads/refused") == 1


def test_credentials_never_sent_to_another_host():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("Authorization")))
        if request.url.host == "r.io" and "Authorization" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        if request.url.host == "r.io":
            return httpx.Response(307, headers={"Location": "https://storage.io/blob"})
        return httpx.Response(200, content=b"data")

    client = httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=True,
                          auth=auth.RegistryAuth("r.io", auth.Credentials("u", "p")))
    assert client.get("https://r.io/v2/a/blobs/sha256:x").content == b"data"
    assert ("storage.io", None) in seen
    assert client.get("https://storage.io/direct").status_code == 200
    assert seen[-1] == ("storage.io", None)


def test_redact():
    assert auth.redact("token abc123 and pw", ["abc123", None, ""]) == "token *** and pw"
