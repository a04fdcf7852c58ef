"""Release signatures from a store served over HTTP and from a directory, and the ConfigMap bytes they become."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import pytest

from mirrorsync.openshift.releases import signatures
from mirrorsync.openshift.releases.signatures import SignatureError
from devtools.loopback_http import LoopbackHTTPServer

DIGEST = "sha256:" + "ab" * 32
HEX = "ab" * 32


class Store(LoopbackHTTPServer):
    """A signature store; ``keep_alive``: answers as HTTP/1.1 on kept-alive connections; ``first``: the status
    of the very first answer (a 503 to retry), the files' after it."""

    def __init__(self, files: dict[str, bytes], *, keep_alive: bool = False, first: int | None = None) -> None:
        self.files = files
        self.paths: list[str] = []
        self.ports: set[int] = set()  # the client ports requests came from: one per connection
        self.keep_alive, self.first = keep_alive, first

    @property
    def url(self) -> str:
        return f"{self.origin}/pub/signatures/"

    def _handler(self):
        store = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if store.keep_alive else "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802
                store.paths.append(self.path)
                store.ports.add(self.client_address[1])
                if store.first is not None and len(store.paths) == 1:
                    self.send_response(store.first)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = store.files.get(self.path.removeprefix("/pub/signatures/"))
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args) -> None:
                pass

        return Handler


def test_a_store_url_gives_every_signature_until_the_first_missing_one():
    with Store({f"sha256={HEX}/signature-1": b"one", f"sha256={HEX}/signature-2": b"two"}) as store:
        got = signatures.read(store.url, DIGEST)
    assert got == {f"sha256-{HEX}-1": b"one", f"sha256-{HEX}-2": b"two"}
    assert store.paths[-1] == f"/pub/signatures/sha256={HEX}/signature-3"


def test_a_store_failing_is_an_error_not_an_empty_answer():
    class Failing(Store):
        def _handler(self):
            class Handler(BaseHTTPRequestHandler):
                def do_GET(self) -> None:  # noqa: N802
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

                def log_message(self, *args) -> None:
                    pass

            return Handler

    from mirrorsync.registry.retry import RetryPolicy

    with Failing({}) as store, pytest.raises(SignatureError, match="HTTP 403"):
        signatures.read(store.url, DIGEST, policy=RetryPolicy(attempts=1))


def test_a_directory_store_and_the_configmap_bytes(tmp_path):
    (tmp_path / f"sha256={HEX}").mkdir()
    for n in (1, 2, 10):
        (tmp_path / f"sha256={HEX}" / f"signature-{n}").write_bytes(f"sig{n}".encode())
    got = signatures.read(str(tmp_path), DIGEST)
    # numbered from 1 without gaps, as stores serve them: signature-10 after a gap is not read
    assert got == {f"sha256-{HEX}-1": b"sig1", f"sha256-{HEX}-2": b"sig2"}
    assert signatures.config_maps_yaml({DIGEST: got, "sha256:" + "0" * 64: {}}) == (
        "apiVersion: v1\n"
        "binaryData:\n"
        f"    sha256-{HEX}-1: c2lnMQ==\n"
        f"    sha256-{HEX}-2: c2lnMg==\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "    labels:\n"
        "        release.openshift.io/verification-signatures: \"\"\n"
        f"    name: sha256-{HEX}\n"
        "    namespace: openshift-config-managed\n")
    with pytest.raises(SignatureError, match="is not a directory"):
        signatures.read(str(tmp_path / "nope"), DIGEST)


def test_a_run_reads_every_signature_through_its_own_reader_pooled_and_counted():
    """Through the run's ``WebReader`` (``Clients.web``): one kept-alive connection for all of a store's reads,
    and a retried 503 counted in the run's ledger, as a registry request's would be."""
    from mirrorsync.registry.retry import RetryPolicy
    from mirrorsync.registry.web import WebReader

    other = "cd" * 32

    files = {f"sha256={HEX}/signature-1": b"one", f"sha256={other}/signature-1": b"two"}
    policy = RetryPolicy(attempts=3, initial_wait=0.0, max_wait=0.0)
    with Store(files, keep_alive=True, first=503) as store, WebReader(policy=policy) as web:
        assert signatures.read(store.url, DIGEST, web=web) == {f"sha256-{HEX}-1": b"one"}
        assert signatures.read(store.url, "sha256:" + other, web=web) == {f"sha256-{other}-1": b"two"}
    assert len(store.paths) == 5 and len(store.ports) == 1  # 503, then 2 reads per digest, one connection
    assert policy.ledger.total == 1
