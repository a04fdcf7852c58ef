"""Loading a containers-policy.json: what is honoured, and every way a file can be wrong as one line naming the
file, the line and the field (exit code 2)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mirrorsync.errors import InputError
from mirrorsync.trust import policy as policy_mod

KEYS = Path(__file__).parent.parent / "data" / "trust" / "cosign"


def load_text(tmp_path: Path, text: str) -> policy_mod.Policy:
    path = tmp_path / "policy.json"
    path.write_text(text)
    return policy_mod.load(str(path))


def failure(tmp_path: Path, text: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_text(tmp_path, text)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(str(tmp_path / "policy.json"))
    assert "\n" not in str(info.value)
    return info.value


def test_a_realistic_policy_loads(tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "cosign.pub").write_bytes((KEYS / "cosign.pub").read_bytes())
    (tmp_path / "keys" / "gpg-keyring").write_bytes(b"not parsed at load")
    pol = load_text(tmp_path, json.dumps({
        "default": [{"type": "reject"}],
        "transports": {
            "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]},
            "docker": {
                "quay.io/signed": [{"type": "sigstoreSigned", "keyPath": "keys/cosign.pub",
                                    "signedIdentity": {"type": "matchRepository"}}],
                "quay.io/both": [{"type": "sigstoreSigned",
                                  "keyDatas": [base64.b64encode((KEYS / n).read_bytes()).decode()
                                               for n in ("cosign.pub", "cosign2.pub", "some-rsa-key.pub")]}],
                "registry.example.com": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "keys/gpg-keyring"}],
                "open.example.com": [{"type": "insecureAcceptAnything"}],
            }}}, indent=2))
    assert sorted(pol.docker) == ["open.example.com", "quay.io/both", "quay.io/signed", "registry.example.com"]
    signed = pol.docker["quay.io/signed"][0]
    assert signed.type == "sigstoreSigned" and len(signed.public_keys) == 1
    assert signed.identity.type == "matchRepository"
    assert len(pol.docker["quay.io/both"][0].public_keys) == 3
    assert pol.docker["quay.io/both"][0].identity.type == "matchRepoDigestOrExact"  # the default
    assert pol.docker["registry.example.com"][0].gpg_keys == (b"not parsed at load",)
    assert pol.wants_signatures


def test_containers_image_fixture_policy_is_refused_where_it_uses_what_the_gate_cannot_check(tmp_path):
    """containers/image's own fixture (signature/fixtures/policy.json) uses signedBaseLayer: refused, named."""
    err = failure(tmp_path, json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {
        "example.com/hardened": [{"type": "signedBaseLayer", "baseLayerIdentity": {"type": "exactRepository",
                                  "dockerRepository": "registry.access.redhat.com/rhel7/rhel"}}]}}}))
    assert err.field == "transports.docker.example.com/hardened[0].type"
    assert "signedBaseLayer is not checked" in err.message


@pytest.mark.parametrize("text,line,field,words", [
    ('{"default": [{"type": "reject"}],\n "transports": {"docker": {"a.io": [\n  {"type": "sigstoreSigned",\n'
     '   "keyPath": "missing.pub"}]}}}', 4, "transports.docker.a.io[0].keyPath", "no such file"),
    ('{"default": [{"type": "reject"}], "extra": 1}', 1, "extra", "unknown field"),
    ('{\n "default": [\n  {"type": "rejectt"}\n ]\n}', 3, "default[0].type", "unknown requirement type"),
    ('{\n "default": [{"type": "reject",\n  "keyPath": "x"}]\n}', 3, "default[0].keyPath", "unknown field"),
    ('{"default": []}', 1, "default", "at least one requirement"),
    ('{"transports": {}}', 1, None, "default: missing"),
    ('{"default": {"type": "reject"}}', 1, "default", "must be an array"),
    ('{"default": [{"type": "reject"}],\n"transports": {"docker": {"q.io": [{"type": "sigstoreSigned",\n'
     '"fulcio": {}}]}}}', 3, "transports.docker.q.io[0].fulcio", "Fulcio"),
    ('{"default": [{"type": "sigstoreSigned", "keyData": "AAAA", "rekorPublicKeyData": "AAAA"}]}', 1,
     "default[0].rekorPublicKeyData", "Rekor"),
    ('{"default": [{"type": "sigstoreSigned"}]}', 1, "default[0]", "exactly one of keyPath"),
    ('{"default": [{"type": "sigstoreSigned", "keyData": "!!"}]}', 1, "default[0].keyData", "not base64"),
    ('{"default": [{"type": "sigstoreSigned", "keyData": "AAAA"}]}', 1, "default[0].keyData", "not a PEM"),
    ('{"default": [{"type": "signedBy", "keyType": "X509Certificates", "keyData": "AAAA"}]}', 1,
     "default[0].keyType", "only GPGKeys"),
    ('{"default": [{"type": "signedBy", "keyData": "AAAA"}]}', 1, "default[0]", "keyType: missing"),
    ('{"default": [{"type": "insecureAcceptAnything",\n "signedIdentity": {"type": "matchExact"}}]}', 2,
     "default[0].signedIdentity", "unknown field"),
    ('{"default": [{"type": "reject"}], "default": [{"type": "reject"}]}', 1, "default", "duplicate key"),
    ('{"default": [{"type": "reject"}]', 1, None, "invalid JSON"),
    ('{"default": [{"type": "reject"},]}', 1, None, "invalid JSON"),
])
def test_bad_policy_files(tmp_path, text, line, field, words):
    err = failure(tmp_path, text)
    assert (err.line, err.field) == (line, field)
    assert words in err.message


@pytest.mark.parametrize("identity,field,words", [
    ({"type": "matchSomething"}, "type", "unknown signedIdentity type"),
    ({"type": "matchExact", "dockerReference": "x"}, "dockerReference", "unknown field"),
    ({"type": "exactReference"}, None, "dockerReference: missing"),
    ({"type": "exactReference", "dockerReference": "busybox"}, "dockerReference", "neither a tag nor a digest"),
    ({"type": "exactReference", "dockerReference": "UPPER:case"}, "dockerReference", "invalid reference"),
    ({"type": "exactRepository", "dockerRepository": "Bad"}, "dockerRepository", "invalid repository"),
    ({"type": "remapIdentity", "prefix": "example.com/UPPER", "signedPrefix": "example.com"}, "prefix", "not valid"),
    ({"type": "remapIdentity", "prefix": "example.com"}, None, "signedPrefix: missing"),
])
def test_bad_signed_identities(tmp_path, identity, field, words):
    key = base64.b64encode((KEYS / "cosign.pub").read_bytes()).decode()
    err = failure(tmp_path, json.dumps({"default": [{"type": "sigstoreSigned", "keyData": key,
                                                     "signedIdentity": identity}]}))
    assert err.field == "default[0].signedIdentity" + (f".{field}" if field else "")
    assert words in err.message


def test_a_missing_policy_file_is_named(tmp_path):
    with pytest.raises(InputError) as info:
        policy_mod.check_file(str(tmp_path / "nope.json"))
    assert str(info.value) == f"{tmp_path / 'nope.json'}: signature policy: no such file"


def test_other_transports_are_ignored_but_must_be_objects(tmp_path):
    pol = load_text(tmp_path, '{"default": [{"type": "insecureAcceptAnything"}], "transports": '
                              '{"oci": {"": [{"type": "whatever"}]}}}')
    assert pol.docker == {} and not pol.wants_signatures
    err = failure(tmp_path, '{"default": [{"type": "reject"}], "transports": {"oci": []}}')
    assert err.field == "transports.oci"
