"""Which policy scope applies to an image, as containers/image looks it up (tests/data/trust/naming.json, from
docker/policyconfiguration/naming_test.go), and the policy's order: exact, namespaces, wildcards, "", default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirrorsync.registry import reference
from mirrorsync.trust import policy as policy_mod

DATA = json.loads((Path(__file__).parent.parent / "data" / "trust" / "naming.json").read_text())


@pytest.mark.parametrize("name", sorted(DATA["namespaces"]))
@pytest.mark.parametrize("suffix", DATA["suffixes"])
def test_scopes_as_containers_image(name, suffix):
    expected = DATA["namespaces"][name]
    scopes = policy_mod.scopes_for(reference.parse_normalized_named(name + suffix))
    assert scopes == [expected[0] + suffix, *expected]


def write_policy(tmp_path: Path, docker: dict) -> policy_mod.Policy:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": docker}}))
    return policy_mod.load(str(path))


ACCEPT = [{"type": "insecureAcceptAnything"}]


@pytest.mark.parametrize("ref,scope", [
    ("quay.io/ns/sub/app:1", "quay.io/ns/sub/app:1"),
    ("quay.io/ns/sub/app:2", "quay.io/ns/sub/app"),
    ("quay.io/ns/sub/other:1", "quay.io/ns/sub"),
    ("quay.io/ns/x:1", "quay.io/ns"),
    ("quay.io/elsewhere/x:1", "quay.io"),
    ("registry.example.com/x:1", "*.example.com"),
    ("registry.other.org/x:1", "docker"),
])
def test_most_specific_scope_wins(tmp_path, ref, scope):
    pol = write_policy(tmp_path, {s: ACCEPT for s in ("quay.io/ns/sub/app:1", "quay.io/ns/sub/app", "quay.io/ns/sub",
                                                     "quay.io/ns", "quay.io", "*.example.com", "*.com", "")})
    assert pol.requirements_for(reference.parse_normalized_named(ref))[0] == scope


def test_default_when_no_scope_applies(tmp_path):
    pol = write_policy(tmp_path, {"quay.io": ACCEPT})
    found, reqs = pol.requirements_for(reference.parse_normalized_named("docker.io/library/busybox:1"))
    assert found == "default" and [r.type for r in reqs] == ["reject"]
