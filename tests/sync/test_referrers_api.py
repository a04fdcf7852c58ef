"""The referrers API path (docker-registry 2.8 has none: its fallback path is tested in
tests/integration/test_companions.py): a small registry of the test's own on 127.0.0.1 that serves
``GET /v2/<name>/referrers/<digest>``, read by mirrorsync's real client, copied to in-memory mirrors with and
without the API."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler

import pytest

from mirrorsync.errors import UnsupportedContent
from mirrorsync.oci.content import OCI_INDEX, OCI_MANIFEST, parse_manifest, sha256_digest
from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.referrers import add_to_fallback, fallback_tag, list_referrers
from mirrorsync.registry.settings import RegistrySettings
from mirrorsync.sync.companions import CompanionSpec
from mirrorsync.sync.copy import Copier, Target

from devtools.loopback_http import LoopbackHTTPServer
from support.memstore import MemoryStore

SBOM = "application/spdx+json"
VULN = "application/vnd.example.vuln+json"


def _manifest(body: dict):
    data = json.dumps(body).encode()
    return parse_manifest(data, body.get("mediaType", OCI_MANIFEST), sha256_digest(data))


class ReferrersRegistry(LoopbackHTTPServer):
    """Serves manifests and blobs from a MemoryStore, and the referrers API computed from the manifests'
    ``subject`` (``broken`` answers it with a body that is not an index)."""

    def __init__(self, store: MemoryStore, repo: str) -> None:
        self.store, self.repo = store, repo
        self.requests: list[str] = []
        self.broken = False
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        assert self._httpd is not None
        return f"127.0.0.1:{self._httpd.server_address[1]}"

    def referrers(self, digest: str) -> bytes:
        entries = [{"mediaType": m.media_type, "digest": m.digest, "size": len(m.data),
                    "artifactType": json.loads(m.data).get("artifactType")}
                   for m in self.store.manifests.values() if m.subject is not None and m.subject.digest == digest]
        return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", ctype: str = "application/json", head=False,
                      digest: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if digest:
                    self.send_header("Docker-Content-Digest", digest)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _answer(self, head: bool) -> None:
                with server._lock:
                    server.requests.append(f"{self.command} {self.path}")
                path = self.path.split("?")[0]
                if path == "/v2/":
                    return self._send(200, b"{}", head=head)
                prefix = f"/v2/{server.repo}/"
                kind, _, ref = path[len(prefix):].partition("/") if path.startswith(prefix) else ("", "", "")
                if kind == "referrers" and not server.broken:
                    return self._send(200, server.referrers(ref), OCI_INDEX, head)
                if kind == "referrers":
                    return self._send(200, b'{"manifests": "nope"}', OCI_INDEX, head)
                if kind == "manifests":
                    desc = server.store.manifest_descriptor(server.repo, ref)
                    if desc is None:
                        return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', head=head)
                    m = server.store.manifests[desc.digest]
                    return self._send(200, m.data, m.media_type, head, m.digest)
                if kind == "blobs" and ref in server.store.blobs:
                    return self._send(200, server.store.blobs[ref], "application/octet-stream", head, ref)
                return self._send(404, b"404 page not found", "text/plain", head)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(False)

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(True)

        return Handler


class ApiMirror(MemoryStore):
    """An in-memory mirror with the referrers API: it lists a pushed manifest by its subject, no fallback tag."""

    def get_referrers(self, repo, digest):
        entries = [{"mediaType": m.media_type, "digest": m.digest, "size": len(m.data)}
                   for d in self.repo_manifests.get(repo, ()) if (m := self.manifests[d]).subject is not None
                   and m.subject.digest == digest]
        return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()


@pytest.fixture
def source():
    """A source repository ``app`` with an image tagged v1 and two referrers of it (an SBOM and a report)."""
    store = MemoryStore("src")
    cfg = store.add_blob("app", b'{"os":"linux","architecture":"amd64"}')
    image = _manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg.digest,
                                  "size": cfg.size}, "layers": []})
    store.add_manifest("app", image, "v1")
    empty = store.add_blob("app", b"{}")
    made = {}
    for artifact_type in (SBOM, VULN):
        payload = store.add_blob("app", json.dumps({"type": artifact_type}).encode())
        m = _manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                       "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.digest,
                                  "size": 2},
                       "layers": [{"mediaType": artifact_type, "digest": payload.digest, "size": payload.size}],
                       "subject": {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": len(image.data)}})
        store.add_manifest("app", m)
        made[artifact_type] = m
    server = ReferrersRegistry(store, "app").start()
    client = RegistryClient(server.host, settings=RegistrySettings(tls_verify=False))
    yield server, client, image, made
    client.close()
    server.stop()


def test_the_api_lists_referrers_and_the_fallback_tag_is_not_asked(source):
    server, client, image, made = source
    listing = list_referrers(client, "app", image.digest)
    assert listing.via_api
    assert [d["digest"] for d in listing.descriptors] == [made[SBOM].digest, made[VULN].digest]
    assert [d["artifactType"] for d in listing.descriptors] == [SBOM, VULN]
    assert server.requests[-1] == f"GET /v2/app/referrers/{image.digest}"
    assert not any(fallback_tag(image.digest) in r for r in server.requests)


def test_referrers_go_from_an_api_source_to_mirrors_with_and_without_the_api(source):
    server, client, image, made = source
    plain, api = MemoryStore("plain"), ApiMirror("api")
    # the plain mirror's fallback index already lists a referrer of its own
    other = _manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "x/other", "layers": [],
                       "subject": {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": 1}})
    plain.add_manifest("m/app", other)
    theirs = {"mediaType": OCI_MANIFEST, "digest": other.digest, "size": len(other.data), "artifactType": "x/other"}
    add_to_fallback(plain, "m/app", image.digest, [theirs])
    targets = [Target(plain, "m/app", "plain"), Target(api, "m/app", "api")]
    with ThreadPoolExecutor(2) as pool:
        result = Copier(pool).copy(client, "app", "v1", targets, tag="v1",
                                   companions=CompanionSpec(referrers=True, artifact_types=(SBOM,)))
    assert [t.status for t in result.targets] == ["copied", "copied"], [t.error for t in result.targets]
    assert [(c["kind"], c["digest"], c["artifactType"]) for c in result.companions] == [
        ("referrer", made[SBOM].digest, SBOM)]
    for store in (plain, api):
        assert store.manifests[made[SBOM].digest].data == made[SBOM].data  # unchanged
        assert made[VULN].digest not in store.repo_manifests["m/app"]  # filtered out
    fallback = json.loads(plain.get_manifest("m/app", fallback_tag(image.digest)).data)
    assert [d["digest"] for d in fallback["manifests"]] == [other.digest, made[SBOM].digest]
    assert fallback["manifests"][1]["artifactType"] == SBOM
    assert (("m/app", fallback_tag(image.digest)) not in api.tags)  # the API lists it; no fallback tag there


def test_an_api_answer_that_is_not_an_index_fails_the_image_with_a_clear_error(source):
    server, client, image, made = source
    server.broken = True
    mirror = MemoryStore("mirror")
    with ThreadPoolExecutor(2) as pool:
        result = Copier(pool).copy(client, "app", "v1", [Target(mirror, "m/app", "mirror")], tag="v1",
                                   companions=CompanionSpec(referrers=True))
    tr = result.targets[0]
    assert tr.status == "failed"
    assert f"reading the signatures and referrers of {image.digest}" in tr.error and "is not an image index" in tr.error
    with pytest.raises(UnsupportedContent):
        list_referrers(client, "app", image.digest)


def test_a_source_listing_more_referrers_than_the_bound_fails_the_image_not_the_run():
    from mirrorsync.sync.companions import MAX_COMPANIONS

    src = MemoryStore("src")
    image = _manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []})
    src.add_manifest("app", image, "v1")
    listed = []
    for n in range(MAX_COMPANIONS + 1):
        m = _manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "x/y", "layers": [],
                       "annotations": {"n": str(n)},
                       "subject": {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": len(image.data)}})
        src.add_manifest("app", m)
        listed.append({"mediaType": OCI_MANIFEST, "digest": m.digest, "size": len(m.data)})
    add_to_fallback(src, "app", image.digest, listed)
    mirror = MemoryStore("mirror")
    with ThreadPoolExecutor(2) as pool:
        result = Copier(pool).copy(src, "app", "v1", [Target(mirror, "app", "mirror")], tag="v1",
                                   companions=CompanionSpec(referrers=True))
    tr = result.targets[0]
    assert tr.status == "failed" and f"more than {MAX_COMPANIONS} signatures and referrers" in tr.error
    assert mirror.tags == {("app", "v1"): image.digest}  # the image itself is there; nothing of its referrers


def test_companion_tags_are_left_out_of_tag_selection_when_they_travel_with_their_image():
    from mirrorsync.sync import manifest
    from mirrorsync.sync.tag_selection import select

    head = "apiVersion: mirrorsync.dev/v1alpha1\nkind: SyncManifest\nmirrors: [m.example]\nimages:\n"
    hexd = "a" * 64
    tags = ["v1", f"sha256-{hexd}.sig", f"sha256-{hexd}.att", f"sha256-{hexd}", f"sha256-{hexd}.other"]

    def taken(entry: str) -> list[str]:
        spec = manifest.parse(head + entry, "m.yaml").images[0]
        return [d.tag for d in select(spec, tags) if d.taken]

    assert taken("- {source: a.io/b, allTags: true}") == tags  # as before: nothing travels with the images
    assert taken("- {source: a.io/b, allTags: true, signatures: true}") == ["v1", f"sha256-{hexd}",
                                                                             f"sha256-{hexd}.other"]
    assert taken("- {source: a.io/b, allTags: true, referrers: true}") == [
        "v1", f"sha256-{hexd}.sig", f"sha256-{hexd}.att", f"sha256-{hexd}.other"]
    spec = manifest.parse(head + "- {source: a.io/b, allTags: true, signatures: true}", "m.yaml").images[0]
    assert [d.reason for d in select(spec, tags) if d.tag.endswith(".sig")] == [
        "a signature or referrers tag: copied with the image it belongs to"]
