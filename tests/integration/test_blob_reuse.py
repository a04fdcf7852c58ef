"""A registry's answer to try_reusing_blob, each kind of it, against the real docker-registry: what the answer
says, what the registry then holds, and the requests that got it."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import httpx
import pytest

from mirrorsync.oci.content import Descriptor, sha256_digest
from mirrorsync.oci.store import BlobReuse
from support.clients import client_for

pytestmark = pytest.mark.integration


def blob(text: bytes) -> tuple[Descriptor, bytes]:
    data = text * 500
    return Descriptor("application/octet-stream", sha256_digest(data), len(data)), data


def requests_about(reg, repo: str) -> list[str]:
    """``METHOD path?query STATUS`` (unquoted) of every request about ``repo`` in the registry's access log, in
    order; token challenges (a 401, answered and sent again) left out."""
    out = []
    for line in reg.access_log_path.read_text().splitlines():
        if f"/v2/{repo}/" not in line:
            continue
        method, target = line.split('"')[1].split()[:2]
        status = line.split('"')[2].split()[0]
        if status != "401":
            out.append(f"{method} {unquote(target)} {status}")
    return out


def read(client, repo: str, desc: Descriptor) -> bytes:
    with client.read_blob(repo, desc) as chunks:
        return b"".join(chunks)


REGISTRIES = ["registry", "token_registry"]


@pytest.mark.parametrize("which", REGISTRIES)
def test_present_a_blob_the_repository_holds_is_found_by_one_head(request, which, unique_repo):
    reg = request.getfixturevalue(which)
    a = unique_repo("present")
    desc, data = blob(b"present layer")
    client = client_for(reg)
    try:
        client.write_blob(a, desc, iter([data]))
        before = len(requests_about(reg, a))
        assert client.try_reusing_blob(a, desc.digest) == BlobReuse(True)
    finally:
        client.close()
    assert requests_about(reg, a)[before:] == [f"HEAD /v2/{a}/blobs/{desc.digest} 200"]


@pytest.mark.parametrize("which", REGISTRIES)
def test_mounted_from_a_candidate_is_one_request_and_the_repository_then_serves_the_blob(request, which,
                                                                                         unique_repo):
    reg = request.getfixturevalue(which)
    a, b = unique_repo("from"), unique_repo("into")
    desc, data = blob(b"mounted layer")
    client = client_for(reg)
    try:
        client.write_blob(a, desc, iter([data]))
        assert client.try_reusing_blob(b, desc.digest, [a]) == BlobReuse(True, mounted_from=a)
        assert requests_about(reg, b) == [f"POST /v2/{b}/blobs/uploads/?mount={desc.digest}&from={a} 201"]
        assert read(client, b, desc) == data
    finally:
        client.close()


def test_the_first_candidate_that_mounts_is_the_answer_and_a_refused_mount_leaves_no_session(registry,
                                                                                            unique_repo):
    a, b, empty = unique_repo("has"), unique_repo("into"), unique_repo("empty")
    desc, data = blob(b"second candidate")
    client = client_for(registry)
    try:
        client.write_blob(a, desc, iter([data]))
        assert client.try_reusing_blob(b, desc.digest, [empty, a]) == BlobReuse(True, mounted_from=a)
    finally:
        client.close()
    seen = requests_about(registry, b)
    # the registry answers a mount it cannot do by opening an upload session (202), which is ended at once
    assert [r.rsplit(" ", 1)[1] for r in seen] == ["202", "204", "201"], seen
    assert seen[0].startswith(f"POST /v2/{b}/blobs/uploads/?mount={desc.digest}&from={empty} ")
    assert seen[1].startswith(f"DELETE /v2/{b}/blobs/uploads/")
    assert seen[2] == f"POST /v2/{b}/blobs/uploads/?mount={desc.digest}&from={a} 201"


@pytest.mark.parametrize("which", REGISTRIES)
def test_mount_refused_the_answer_is_what_the_repository_holds(request, which, unique_repo):
    reg = request.getfixturevalue(which)
    b, empty = unique_repo("into"), unique_repo("empty")
    held, held_data = blob(b"already in b")
    missing, _ = blob(b"nowhere")
    client = client_for(reg)
    try:
        client.write_blob(b, held, iter([held_data]))
        before = len(requests_about(reg, b))
        assert client.try_reusing_blob(b, missing.digest, [empty]) == BlobReuse(False)
        assert client.try_reusing_blob(b, held.digest, [empty]) == BlobReuse(True)  # held, not mounted
    finally:
        client.close()
    seen = [r.split("/blobs/")[0] + " " + r.rsplit(" ", 1)[1] for r in requests_about(reg, b)[before:]]
    assert seen == [f"{m} /v2/{b} {s}" for m, s in [("POST", "202"), ("DELETE", "204"), ("HEAD", "404"),
                                                   ("POST", "202"), ("DELETE", "204"), ("HEAD", "200")]]


@pytest.mark.parametrize("which", REGISTRIES)
def test_absent_with_a_session_the_upload_goes_into_the_session_the_answer_names(request, which, unique_repo):
    reg = request.getfixturevalue(which)
    a, b = unique_repo("from"), unique_repo("into")
    shared, shared_data = blob(b"shared layer")
    new, new_data = blob(b"new layer")
    client = client_for(reg)
    try:
        client.write_blob(a, shared, iter([shared_data]))
        # a mount honoured: from now on the registry is asked by mounting a blob from the repository itself
        assert client.try_reusing_blob(b, shared.digest, [a]).mounted_from == a
        answer = client.try_reusing_blob(b, new.digest)
        assert answer.present is False and answer.mounted_from is None
        session = urlsplit(answer.session)
        assert session.netloc == reg.host and session.path.startswith(f"/v2/{b}/blobs/uploads/")
        client.write_blob(b, new, iter([new_data]))
        assert read(client, b, new) == new_data
        assert client.try_reusing_blob(b, new.digest) == BlobReuse(True)
    finally:
        client.close()
    about_new = [r for r in requests_about(reg, b) if new.digest in r]
    assert about_new[0] == f"POST /v2/{b}/blobs/uploads/?mount={new.digest}&from={b} 202"
    puts = [r for r in about_new if r.startswith("PUT ")]
    assert len(puts) == 1 and puts[0].startswith(f"PUT {session.path}?"), about_new
    assert about_new[-1] == f"POST /v2/{b}/blobs/uploads/?mount={new.digest}&from={b} 201"
    assert not [r for r in requests_about(reg, b) if r.startswith("HEAD ")]


def test_a_session_nobody_wrote_into_is_ended_at_close(registry, unique_repo):
    a, b = unique_repo("from"), unique_repo("into")
    shared, shared_data = blob(b"shared layer")
    unused, _ = blob(b"never written")
    client = client_for(registry)
    try:
        client.write_blob(a, shared, iter([shared_data]))
        assert client.try_reusing_blob(b, shared.digest, [a]).mounted_from == a
        session = client.try_reusing_blob(b, unused.digest).session
        assert session and httpx.get(session).status_code == 204  # the registry holds it open
    finally:
        client.close()
    assert httpx.get(session).status_code == 404
