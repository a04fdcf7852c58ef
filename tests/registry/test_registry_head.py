"""RegistryClient.manifest_descriptor against a loopback registry that leaves out Docker-Content-Digest (a SHOULD
of the distribution spec): a HEAD by digest that answers 200 still says the manifest is there."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mirrorsync.sync.manifest import RegistrySettings
from mirrorsync.registry.client import RegistryClient

DIGEST = "sha256:" + "ab" * 32


class _NoDigestHeader(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 0.5  # the client's HTTPS probe sends a TLS hello, which has no line end: give up on it soon

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        known = self.path in ("/v2/", f"/v2/team/app/manifests/{DIGEST}", "/v2/team/app/manifests/v1")
        self.send_response(200 if known else 404)
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        self.send_header("Content-Length", "321" if known else "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - the scheme probe asks /v2/
        self.send_response(200 if self.path == "/v2/" else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry_without_digest_header():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NoDigestHeader)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    client = RegistryClient(f"127.0.0.1:{httpd.server_address[1]}", settings=RegistrySettings(tls_verify=False))
    yield client
    client.close()
    httpd.shutdown()
    httpd.server_close()


def test_a_head_by_digest_answered_200_is_there_even_without_the_digest_header(registry_without_digest_header):
    found = registry_without_digest_header.manifest_descriptor("team/app", DIGEST)
    assert found is not None and found.digest == DIGEST and found.size == 321


def test_absent_is_none_and_a_tag_without_the_header_is_left_to_a_get(registry_without_digest_header):
    assert registry_without_digest_header.manifest_descriptor("team/app", "sha256:" + "cd" * 32) is None
    assert registry_without_digest_header.manifest_descriptor("team/app", "v1") is None
