"""Unit tests of which credentials and settings apply where, and of the read limits (fakes; the real registry is in
tests/integration/test_credentials_tls.py and test_read_limits.py)."""

import base64
import json

import httpx
import pytest

from mirrorsync.registry import auth, limits
from mirrorsync.errors import AuthError, RegistryError
from mirrorsync.sync.manifest import RegistrySettings, SyncManifest
from mirrorsync.registry.reference import same_host_spellings


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.fixture
def authfile(tmp_path):
    def write(entries):
        path = tmp_path / "auth.json"
        path.write_text(json.dumps({"auths": {k: {"auth": b64(v)} for k, v in entries.items()}}))
        path.chmod(0o600)
        return str(path)
    return write


def test_keys_are_tried_repository_then_namespaces_then_host_each_with_and_without_the_default_port():
    assert auth.auth_keys("r.io", "team/app") == ["r.io/team/app", "r.io:443/team/app", "r.io/team", "r.io:443/team",
                                                  "r.io", "r.io:443"]
    assert auth.auth_keys("r.io:443", "app") == ["r.io:443/app", "r.io/app", "r.io:443", "r.io"]
    assert auth.auth_keys("r.io:5000", "a") == ["r.io:5000/a", "r.io:5000"]
    assert same_host_spellings("[::1]") == ["[::1]", "[::1]:443"]
    assert same_host_spellings("[::1]:443") == ["[::1]:443", "[::1]"]


@pytest.mark.parametrize("path, repository", [
    ("/v2/team/app/manifests/v1", "team/app"), ("/v2/team/tags/app/manifests/v1", "team/tags/app"),
    ("/v2/a/blobs/manifests/blobs/sha256:abc", "a/blobs/manifests"), ("/v2/a/tags/tags/list", "a/tags"),
    ("/v2/a/blobs/uploads/", "a"), ("/v2/a/blobs/uploads/0b1c-uuid", "a"), ("/v2/", None), ("/v2/_catalog", None),
])
def test_the_repository_a_request_is_about(path, repository):
    assert auth.repository_of(path) == repository


def test_lookup_takes_the_most_specific_key(authfile):
    path = authfile({"r.io": "host:h", "r.io/team": "team:t", "r.io/team/app": "app:a", "r.io:443/other": "o:o"})
    assert auth.lookup("r.io", "team/app", auth_file=path).username == "app"
    assert auth.lookup("r.io", "team/lib", auth_file=path).username == "team"
    assert auth.lookup("r.io", "teamx/app", auth_file=path).username == "host"  # a path prefix is not a namespace
    assert auth.lookup("r.io", "other", auth_file=path).username == "o"
    assert auth.lookup("r.io:443", "team", auth_file=path).username == "team"
    assert auth.lookup("r.io:5000", "team", auth_file=path) is None


def test_credentials_for_looks_each_repository_up_once(authfile, tmp_path):
    path = authfile({"r.io/a": "a:1", "r.io": "h:2"})
    find = auth.credentials_for("r.io", path)
    assert find("a").username == "a" and find("b").username == "h" and find(None).username == "h"
    (tmp_path / "auth.json").write_text("{}")
    assert find("a").username == "a"  # cached: one run reads each file once per repository
    assert find("c").username == "h"  # and a repository not asked before is looked up in the file as first read


def test_credentials_for_reads_each_auth_file_once_however_many_repositories(authfile, monkeypatch):
    path = authfile({"r.io/a": "a:1", "r.io": "h:2"})
    reads: list[str] = []
    real = auth._load_auths
    monkeypatch.setattr(auth, "_load_auths", lambda file, **kw: reads.append(str(file)) or real(file, **kw))
    find = auth.credentials_for("r.io", path)
    assert [find(f"team/app{i}").username for i in range(200)] == ["h"] * 200
    assert reads == [path]


def test_where_names_the_auth_file_key_a_repository_gets_never_the_secret(authfile, tmp_path):
    path = authfile({"r.io/team": "team:S3cret-team", "r.io": "h:S3cret-host"})
    find = auth.credentials_for("r.io", path)
    assert find.where("team/app") == f"credentials of key r.io/team in {path}"
    assert find.where("other/app") == f"credentials of key r.io in {path}"
    assert find.where(None) == f"credentials of key r.io in {path}"
    elsewhere = auth.credentials_for("q.io:5000", path)
    assert elsewhere.where("ns/app") == f"no credentials: no entry for q.io:5000/ns/app, q.io:5000/ns, q.io:5000 in {path}"
    assert "S3cret" not in find.where("team/app") + find.where(None)


def test_manifest_settings_apply_to_both_spellings_of_the_default_port():
    insecure = RegistrySettings(tls_verify=False)
    m = SyncManifest(file="m", mirrors=(), images=(), registries={"a.io": insecure, "b.io:443": insecure,
                                                                   "c.io:5000": insecure})
    assert m.settings_for("a.io:443") is insecure and m.settings_for("b.io") is insecure
    assert m.settings_for("c.io") == RegistrySettings() and m.settings_for("a.io:80") == RegistrySettings()


@pytest.mark.parametrize("host, url, ours", [
    ("r.io", "https://r.io/v2/", True), ("r.io", "http://r.io/v2/", True), ("r.io:443", "https://r.io/v2/", True),
    ("r.io", "https://r.io:443/v2/", True), ("r.io:5000", "https://r.io:5000/v2/", True),
    ("r.io:443", "http://r.io/v2/", False), ("r.io", "https://r.io:5000/v2/", False),
    ("r.io", "https://auth.r.io/token", False), ("r.io:5000", "https://r.io/v2/", False),
])
def test_a_url_is_the_registrys_own_by_host_and_effective_port(host, url, ours):
    assert auth.RegistryAuth(host, None).owns(httpx.URL(url)) is ours


def bearer_registry(realm: str, seen: list[httpx.Request]):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "r.io":
            if request.headers.get("Authorization") == "Bearer t":
                return httpx.Response(200, json={})
            return httpx.Response(401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="r"'})
        return httpx.Response(200, json={"token": "t"})
    return handler


@pytest.mark.parametrize("realm, settings, sent", [
    ("https://auth.r.io/token", {}, True),
    ("http://auth.r.io/token", {}, False),
    ("http://auth.r.io/token", {"auth.r.io": RegistrySettings(tls_verify=False)}, True),
    ("http://auth.r.io:8080/token", {"auth.r.io": RegistrySettings(tls_verify=False)}, False),
])
def test_credentials_go_to_a_realm_over_https_or_where_it_is_marked_without_tls(realm, settings, sent):
    seen: list[httpx.Request] = []
    creds = auth.RegistryAuth("r.io", auth.Credentials("u", "secret-pw"),
                              settings_for=lambda h: settings.get(h, RegistrySettings()))
    with httpx.Client(transport=httpx.MockTransport(bearer_registry(realm, seen)), auth=creds) as client:
        if sent:
            assert client.get("https://r.io/v2/a/manifests/v1").status_code == 200
            assert seen[1].headers["Authorization"] == "Basic " + b64("u:secret-pw")
            return
        with pytest.raises(AuthError, match="not HTTPS: credentials are not sent there in clear text") as info:
            client.get("https://r.io/v2/a/manifests/v1")
    assert "secret-pw" not in str(info.value) and "tlsVerify: false for auth.r.io" in str(info.value)
    assert [r.url.host for r in seen] == ["r.io"]  # the realm was never asked


def test_anonymous_token_requests_may_use_a_plain_http_realm():
    seen: list[httpx.Request] = []
    with httpx.Client(transport=httpx.MockTransport(bearer_registry("http://auth.r.io/token", seen)),
                      auth=auth.RegistryAuth("r.io", None)) as client:
        assert client.get("https://r.io/v2/a/manifests/v1").status_code == 200
    assert "Authorization" not in seen[1].headers


def test_each_repository_gets_its_own_credentials_for_basic_and_bearer():
    by_repo = {"team/app": auth.Credentials("app", "1"), None: auth.Credentials("host", "2")}
    find = lambda repo: by_repo.get(repo, by_repo[None])  # noqa: E731
    seen: list[httpx.Request] = []
    with httpx.Client(transport=httpx.MockTransport(bearer_registry("https://auth.r.io/token", seen)),
                      auth=auth.RegistryAuth("r.io", find)) as client:
        client.get("https://r.io/v2/team/app/manifests/v1")
        client.get("https://r.io/v2/other/manifests/v1")
    realm = [r.headers["Authorization"] for r in seen if r.url.host == "auth.r.io"]
    assert realm == ["Basic " + b64("app:1"), "Basic " + b64("host:2")]

    sent: list[str | None] = []

    def basic(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("Authorization"))  # the request object is sent again, with the header
        if "Authorization" in request.headers:
            return httpx.Response(200)
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    registry_auth = auth.RegistryAuth("r.io", find)
    with httpx.Client(transport=httpx.MockTransport(basic), auth=registry_auth) as client:
        client.get("https://r.io/v2/team/app/blobs/sha256:" + "0" * 64)
        client.get("https://r.io/v2/other/tags/list")
    assert sent == [None, "Basic " + b64("app:1"), "Basic " + b64("host:2")]
    assert registry_auth.authorization("HEAD", "/v2/team/app/manifests/v1") == (True, "Basic " + b64("app:1"))


# --- limits -----------------------------------------------------------------------------------------------------


def endless(chunk: bytes = b"x" * 65536):
    sent = [0]

    def stream():
        while True:
            sent[0] += len(chunk)
            yield chunk
    return stream, sent


def client_with(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler), event_hooks={"response": [limits.bound_body]})


def test_an_endless_manifest_is_refused_after_4_mib():
    stream, sent = endless()
    with client_with(lambda r: httpx.Response(200, content=stream())) as client:
        with pytest.raises(limits.TooLarge, match="more than 4 MiB for a manifest"):
            client.get("https://r.io/v2/a/manifests/v1")
    assert sent[0] <= limits.MANIFEST_BODY + 65536


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    stream, sent = endless()
    with client_with(lambda r: httpx.Response(200, headers={"Content-Length": str(5 << 20)}, content=stream())) as c:
        with pytest.raises(limits.TooLarge):
            c.get("https://r.io/v2/a/manifests/v1")
    assert sent[0] == 0


def test_an_error_body_is_cut_at_1_mib_and_keeps_its_status():
    stream, sent = endless()
    with client_with(lambda r: httpx.Response(500, content=stream())) as client:
        response = client.get("https://r.io/v2/a/manifests/v1")
    assert response.status_code == 500 and len(response.content) == limits.ERROR_BODY
    assert sent[0] <= limits.ERROR_BODY + 65536


def test_blobs_are_not_bounded_here():
    data = b"y" * (5 << 20)
    with client_with(lambda r: httpx.Response(200, content=data)) as client:
        assert client.get("https://r.io/v2/a/blobs/sha256:" + "0" * 64).content == data
        assert client.get("https://storage.r.io/some/object?sig=1").content == data


def test_a_token_answer_is_read_at_most_1_mib():
    stream, sent = endless()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "r.io":
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="https://auth.r.io/t"'})
        return httpx.Response(200, content=stream())

    client = httpx.Client(transport=httpx.MockTransport(handler), auth=auth.RegistryAuth("r.io", None))
    with pytest.raises(limits.TooLarge, match="more than 1 MiB for a token answer"):
        client.get("https://r.io/v2/a/manifests/v1")
    assert sent[0] <= limits.TOKEN_BODY + 65536


@pytest.mark.parametrize("encoding, wbits", [("gzip", 31), ("deflate", 15), ("deflate", -15)])
def test_a_compressed_answer_within_its_limit_reads_as_usual(encoding, wbits):
    import zlib  # noqa: PLC0415
    body = json.dumps({"schemaVersion": 2, "layers": ["x" * 100] * 1000}).encode()
    z = zlib.compressobj(6, zlib.DEFLATED, wbits)
    packed = z.compress(body) + z.flush()
    answer = lambda r: httpx.Response(200, headers={"Content-Encoding": encoding}, content=packed)  # noqa: E731
    with client_with(answer) as client:
        assert client.get("https://r.io/v2/a/manifests/v1").content == body
    with client_with(lambda r: httpx.Response(200, headers={"Content-Encoding": "br"}, content=b"??")) as client:
        with pytest.raises(RegistryError, match="Content-Encoding 'br', which mirrorsync does not read"):
            client.get("https://r.io/v2/a/manifests/v1")


@pytest.mark.parametrize("plain_http, sent", [(False, False), (True, True)])
def test_a_url_on_the_registry_in_clear_text_gets_credentials_only_when_the_registry_has_no_tls(plain_http, sent):
    # docker-registry behind a TLS proxy that does not set X-Forwarded-Proto names its upload Location http://
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "Authorization" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        return httpx.Response(201)

    registry_auth = auth.RegistryAuth("r.io", auth.Credentials("u", "secret-pw"), plain_http=plain_http)
    with httpx.Client(transport=httpx.MockTransport(handler), auth=registry_auth) as client:
        assert client.get("https://r.io/v2/a/manifests/v1").status_code == 201  # learns Basic, over TLS
        seen.clear()
        client.put("http://r.io/v2/a/blobs/uploads/1?digest=sha256:x", content=b"layer")
    assert any("Authorization" in r.headers for r in seen) is sent
