"""What a server can make mirrorsync read: bounded, with a clear error, as containers/image bounds it.

A hostile loopback server (``support.hostile_server``) sends bodies that never end; the server counts what it got
to send and ``tracemalloc`` what the client held. Tag-list pagination and its bounds run against the real
docker-registry, which pages by ``n``/``last`` and ``Link``.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mirrorsync.registry import limits
from mirrorsync.errors import RegistryError
from mirrorsync.sync.manifest import RegistrySettings
from mirrorsync.registry.client import RegistryClient
from mirrorsync.registry.retry import RetryPolicy, TransientError
from support.cli import mirrorsync as run_cli, write_manifest
from support.hostile_server import HostileServer

pytestmark = pytest.mark.integration

# what the loopback socket buffers can hold beyond what the client read, and slack for the client's own buffers
SLACK = 16 << 20


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def client_for(host: str, **kw: Any) -> RegistryClient:
    return RegistryClient(host, settings=RegistrySettings(tls_verify=False),
                          policy=RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.01), **kw)


def peak_memory(fn: Callable[[], Any]) -> tuple[BaseException | None, int]:
    """What ``fn`` raised, and the most memory Python held during it (bytes above where it started)."""
    tracemalloc.start()
    try:
        fn()
        raised = None
    except Exception as exc:  # noqa: BLE001 - returned for the test to check
        raised = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return raised, peak


@pytest.mark.parametrize("ref", ["endless", "huge"])
def test_a_manifest_is_read_at_most_4_mib(ref, hostile):
    client = client_for(hostile.host)
    raised, peak = peak_memory(lambda: client.get_manifest("app", ref))
    client.close()
    assert isinstance(raised, limits.TooLarge), raised
    assert str(raised) == (f"http://{hostile.host}/v2/app/manifests/{ref} sent more than 4 MiB for a manifest, "
                           "the most mirrorsync reads; not reading more")
    assert hostile.total(f"/manifests/{ref}") < limits.MANIFEST_BODY + SLACK
    assert peak < 3 * limits.MANIFEST_BODY


@pytest.mark.parametrize("ref", ["gzip-bomb", "deflate-bomb"])
def test_a_compressed_manifest_is_bounded_by_what_it_expands_to(ref, hostile):
    """256 KiB that expand to 256 MiB: the limit counts the bytes decoded, and they are decoded a little at a time."""
    client = client_for(hostile.host)
    raised, peak = peak_memory(lambda: client.get_manifest("app", ref))
    client.close()
    assert isinstance(raised, limits.TooLarge) and "more than 4 MiB for a manifest" in str(raised), raised
    assert peak < 3 * limits.MANIFEST_BODY


def test_an_error_body_is_read_at_most_1_mib_and_the_status_still_decides(hostile):
    client = client_for(hostile.host)
    raised, peak = peak_memory(lambda: client.get_manifest("app", "error"))
    client.close()
    assert isinstance(raised, TransientError) and raised.status == 500, raised  # retried as any 500
    assert hostile.total("/manifests/error") < limits.ERROR_BODY + SLACK
    assert peak < 3 * limits.ERROR_BODY


def test_a_token_answer_is_read_at_most_1_mib(hostile):
    client = client_for(hostile.host)
    raised, peak = peak_memory(lambda: client.get_manifest("token", "v1"))
    client.close()
    assert isinstance(raised, limits.TooLarge) and "for a token answer" in str(raised), raised
    assert hostile.total("/token") < limits.TOKEN_BODY + SLACK
    assert peak < 3 * limits.TOKEN_BODY


def test_a_tag_list_page_that_never_ends(hostile):
    client = client_for(hostile.host)
    raised, peak = peak_memory(lambda: client.list_tags("endless"))
    client.close()
    assert isinstance(raised, limits.TooLarge) and "for a page of a tag list" in str(raised), raised
    assert hostile.total("/endless/tags/list") < limits.TAGS_PAGE_BODY + SLACK
    assert peak < 3 * limits.TAGS_PAGE_BODY


def test_tag_list_pages_that_never_end_or_loop(hostile):
    client = client_for(hostile.host)
    with pytest.raises(RegistryError, match=f"more than {limits.MAX_TAG_PAGES} pages"):
        client.list_tags("pages")
    assert sum("/pages/tags/list" in r for r in hostile.requests) == limits.MAX_TAG_PAGES
    with pytest.raises(RegistryError, match="links back to a page already read"):
        client.list_tags("loop")
    assert sum("/loop/tags/list" in r for r in hostile.requests) == 1  # its Link is the page just read
    client.close()


def test_a_registry_that_pages_by_n_and_last_without_link(hostile):
    client = client_for(hostile.host)
    client.tags_page_size = 2
    assert client.list_tags("lastonly") == ["v0", "v1", "v2", "v3", "v4"]
    client.close()
    asked = [r for r in hostile.requests if "/lastonly/" in r]
    assert asked == ["/v2/lastonly/tags/list?n=2", "/v2/lastonly/tags/list?n=2&last=v1",
                     "/v2/lastonly/tags/list?n=2&last=v3"]


def test_a_run_against_a_hostile_source_fails_that_image_with_the_reason(tmp_path, hostile, mirror_registry):
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/hostile"],
                              registries={hostile.host: {"tlsVerify": False},
                                          mirror_registry.host: {"tlsVerify": False}},
                              images=[{"source": f"{hostile.host}/app:endless"}], options={"retries": 1})
    proc = run_cli("run", str(manifest), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stderr
    assert "sent more than 4 MiB for a manifest" in proc.stderr
    assert hostile.total("/manifests/endless") < limits.MANIFEST_BODY + SLACK


# --- the real registry ------------------------------------------------------------------------------------------


def test_the_tag_count_bound_against_the_real_registry(registry, seed, unique_repo, monkeypatch):
    """docker-registry 2.8 answers a tag list in one page whatever ``n`` asks (paging is tested on the hostile
    server above); the bound on the number of tags holds all the same."""
    repo = unique_repo("count")
    tags = [f"v{i}" for i in range(7)]
    for i, tag in enumerate(tags):
        seed(registry, repo, tag, kind="oci", arches=("amd64",), seed=100 + i)
    client = RegistryClient(registry.host, settings=RegistrySettings(tls_verify=False))
    client.tags_page_size = 2
    try:
        assert client.list_tags(repo) == sorted(tags)
        monkeypatch.setattr(limits, "MAX_TAGS", 6)
        with pytest.raises(RegistryError, match=f"listing tags of {registry.host}/{repo}: more than 6 tags, "
                                                "the most mirrorsync reads"):
            client.list_tags(repo)
    finally:
        client.close()


def test_a_manifest_served_as_a_web_page_is_refused_and_never_reaches_the_mirror(hostile, mirror_registry, tmp_path):
    """A captive portal or a misconfigured front end answers the manifest with ``Content-Type: text/html``: the
    bytes parse as an image manifest, but a mirror must not be given a text/html manifest to serve to nodes."""
    from support.cli import mirrorsync as run_cli, write_manifest
    from support.fault_proxy import oracle_client, repositories

    path = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/html"],
                          images=[{"source": f"{hostile.host}/portal/app:html"}],
                          registries={h: {"tlsVerify": False} for h in (hostile.host, mirror_registry.host)},
                          options={"retries": 0})
    proc = run_cli("run", str(path), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stderr
    assert "is served as 'text/html', which is not a manifest media type" in proc.stderr
    with oracle_client(mirror_registry) as client:
        assert "html/portal/app" not in repositories(client)


def test_a_trickling_manifest_fails_within_the_timeout_not_per_read(hostile):
    """Slow loris: 10 bytes a second keep every read within a 1 s timeout; the whole answer must come within it."""
    client = RegistryClient(hostile.host, settings=RegistrySettings(tls_verify=False), timeout=1.0,
                            policy=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01))
    started = time.monotonic()
    with pytest.raises(Exception, match="did not arrive whole within 1s"):
        client.get_manifest("app", "trickle")
    client.close()
    assert time.monotonic() - started < 8  # two tries of about a second, not 10^4 s
    assert hostile.total("/manifests/trickle") < 100


def test_a_trickling_blob_fails_under_the_minimum_rate(hostile):
    """A blob at 10 bytes a second: under MIN_BLOB_RATE for a whole timeout, and a trickle is no progress, so the
    download's retries are spent instead of starting again at each byte."""
    from mirrorsync.oci.content import Descriptor
    from mirrorsync.registry.client import TooSlow

    client = RegistryClient(hostile.host, settings=RegistrySettings(tls_verify=False), timeout=1.0,
                            policy=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01))
    desc = Descriptor("application/octet-stream", "sha256:" + "1" * 64, 100_000)
    started = time.monotonic()
    with pytest.raises(TooSlow, match="under the 1024 bytes a second"):
        with client.read_blob("app", desc) as chunks:
            for _ in chunks:
                pass
    client.close()
    assert time.monotonic() - started < 8
