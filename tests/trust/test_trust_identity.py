"""signedIdentity decisions against containers/image's own tables (tests/data/trust/reference_match.json, from
signature/policy_reference_match_test.go)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirrorsync.registry import reference
from mirrorsync.trust.identity import SignedIdentity

DATA = json.loads((Path(__file__).parent.parent / "data" / "trust" / "reference_match.json").read_text())


def table(prefix: str) -> list:
    return next(v for k, v in DATA.items() if k.startswith(prefix))


def image(text: str):
    """The image's reference as the copy has it; None for the vectors whose image side does not parse (Go skips
    those: an image always has a valid reference)."""
    try:
        return reference.parse_normalized_named(text)
    except ValueError:
        return None


def both_ways(rows):
    for a, b, want in rows:
        yield a, b, want
        yield b, a, want


@pytest.mark.parametrize("rule,a,b,want", [("matchExact", *row) for row in both_ways(table("exactMatch"))]
                         + [("matchRepository", *row) for row in both_ways(table("repositoryMatch"))])
def test_match_exact_and_match_repository(rule, a, b, want):
    img = image(a)
    if img is None or a.startswith("UPPERCASE"):
        return
    assert SignedIdentity(rule).accepts(img, b) is want


@pytest.mark.parametrize("a,b,want", list(both_ways(table("exactMatch"))))
def test_exact_reference(a, b, want):
    # the reference is the policy's, not the image's: an invalid one matches nothing
    assert SignedIdentity("exactReference", docker_reference=a).accepts(image("busybox:latest"), b) is want


@pytest.mark.parametrize("a,b,want", list(both_ways(table("repositoryMatch"))))
def test_exact_repository(a, b, want):
    assert SignedIdentity("exactRepository", docker_repository=a).accepts(image("busybox:latest"), b) is want


def repo_digest_or_exact_rows():
    rows = [r for r in both_ways(table("exactMatch")) if r[2]]
    rows += [r for r in both_ways(table("repositoryMatch")) if not r[2]]
    return rows + [tuple(r) for r in table("matchRepoDigestOrExact")]


@pytest.mark.parametrize("a,b,want", repo_digest_or_exact_rows())
def test_match_repo_digest_or_exact(a, b, want):
    img = image(a)
    if img is None or a.startswith("UPPERCASE"):
        return
    assert SignedIdentity("matchRepoDigestOrExact").accepts(img, b) is want


def test_a_job_by_tag_needs_the_tag_signed_and_one_by_digest_the_repository():
    """A job by tag needs ``host/repo:tag`` signed; one by digest any reference in ``host/repo``. Not ``host/repo``
    alone, as cosign writes it: containers/image refuses a name-only identity under this rule (the vector
    ``busybox@digest`` vs ``busybox``), so cosign's own signatures need ``matchRepository``."""
    rule = SignedIdentity("matchRepoDigestOrExact")
    by_tag = image("quay.io/ns/app:1.0")
    by_digest = image("quay.io/ns/app@sha256:" + "a" * 64)
    assert not rule.accepts(by_tag, "quay.io/ns/app")
    assert rule.accepts(by_tag, "quay.io/ns/app:1.0")
    assert rule.accepts(by_digest, "quay.io/ns/app:any")
    assert rule.accepts(by_digest, "quay.io/ns/app@sha256:" + "b" * 64)
    assert not rule.accepts(by_digest, "quay.io/ns/app")
    assert not rule.accepts(by_digest, "quay.io/ns/other:any")
    assert SignedIdentity("matchRepository").accepts(by_tag, "quay.io/ns/app")


@pytest.mark.parametrize("ref,prefix,want", [tuple(r) for r in table("remapPrefixMatches")])
def test_remap_prefix_matches(ref, prefix, want):
    rule = SignedIdentity("remapIdentity", prefix=prefix, signed_prefix="docker.io/library/signed-prefix")
    remapped = rule._remap(image(ref))
    assert (remapped != image(ref)) is want


@pytest.mark.parametrize("prefix,signed,ref,want", [tuple(r) for r in table("remapRewrite")])
def test_remap_rewrite(prefix, signed, ref, want):
    remapped = SignedIdentity("remapIdentity", prefix=prefix, signed_prefix=signed)._remap(image(ref))
    assert (str(remapped) if remapped is not None else None) == want


@pytest.mark.parametrize("prefix,signed,img,sig,want", [tuple(r) for r in table("remapIdentity")])
def test_remap_identity(prefix, signed, img, sig, want):
    assert SignedIdentity("remapIdentity", prefix=prefix, signed_prefix=signed).accepts(image(img), sig) is want
