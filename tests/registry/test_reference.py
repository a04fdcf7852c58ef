import pytest

from mirrorsync.errors import InputError
from mirrorsync.registry.reference import Reference, parse, parse_repository, validate_digest

D = "sha256:" + "a" * 64


@pytest.mark.parametrize("text,expected", [
    ("busybox", Reference("docker.io", "library/busybox")),
    ("busybox:1.36", Reference("docker.io", "library/busybox", "1.36")),
    ("docker.io/busybox", Reference("docker.io", "library/busybox")),
    ("index.docker.io/library/busybox", Reference("docker.io", "library/busybox")),
    ("user/app", Reference("docker.io", "user/app")),
    ("quay.io/ocp/release:v1", Reference("quay.io", "ocp/release", "v1")),
    ("localhost/app", Reference("localhost", "app")),
    ("localhost:5000/a/b/c@" + D, Reference("localhost:5000", "a/b/c", None, D)),
    ("127.0.0.1:5000/x:t@" + D, Reference("127.0.0.1:5000", "x", "t", D)),
    ("[::1]:5000/x", Reference("[::1]:5000", "x")),
    ("reg.io/a__b/c-d.e", Reference("reg.io", "a__b/c-d.e")),
])
def test_parse(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", [
    "", "quay.io/Upper", "quay.io/a//b", "quay.io/a:", "quay.io/a@sha256:abc",
    "quay.io/a@sha256:" + "A" * 64, " quay.io/a", "quay.io/a/", "-a/b", "quay.io/a:-tag",
    "quay.io/a@md5:" + "a" * 32, "quay.io/" + "a" * 260,
])
def test_parse_rejects(text):
    with pytest.raises(InputError):
        parse(text)


def test_str_round_trips():
    for text in ["quay.io/ocp/release:v1", "quay.io/ocp/release@" + D, "127.0.0.1:5000/x:t@" + D]:
        assert str(parse(text)) == text


def test_name_and_with():
    ref = parse("quay.io/ocp/release:v1")
    assert ref.name == "quay.io/ocp/release"
    assert ref.with_digest(D).identifier == D
    assert str(ref.with_tag("v2")) == "quay.io/ocp/release:v2"
    assert parse("busybox").api_host == "registry-1.docker.io"


def test_parse_repository_refuses_tags():
    with pytest.raises(InputError, match="without tag or digest"):
        parse_repository("quay.io/a:v1")


def test_validate_digest_lengths():
    assert validate_digest(D) == D
    with pytest.raises(InputError):
        validate_digest("sha256:" + "a" * 63)
    with pytest.raises(InputError):
        validate_digest("sha512:" + "a" * 64)
