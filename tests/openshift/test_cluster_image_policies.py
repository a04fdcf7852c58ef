"""ClusterImagePolicy objects from a signature policy, checked against the CRD from openshift/api
(``support.crds.validate``: its schema, and the CEL rules on what mirrorsync fills)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from mirrorsync.errors import InputError
from mirrorsync.openshift import cluster_image_policies
from mirrorsync.sync.report import Report
from mirrorsync.trust import policy as policy_mod
from support.crds import validate

DATA = Path(__file__).parent.parent / "data"
KEYS = DATA / "trust" / "cosign"


def load(tmp_path, docker: dict) -> policy_mod.Policy:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": docker}}, indent=1))
    return policy_mod.load(str(path))


def sigstore(key="cosign.pub", identity=None):
    req = {"type": "sigstoreSigned", "keyPath": str(KEYS / key)}
    if identity:
        req["signedIdentity"] = identity
    return [req]


def test_every_sigstore_scope_becomes_a_valid_object(tmp_path):
    pol = load(tmp_path, {
        "quay.io/ns": sigstore(identity={"type": "matchRepository"}),
        "registry.example.com:5000/team/app": sigstore("some-rsa-key.pub"),
        "*.example.org": sigstore(identity={"type": "exactRepository", "dockerRepository": "quay.io/ns/app"}),
        "mirror.example.com/vendor": sigstore(identity={"type": "remapIdentity", "prefix": "mirror.example.com/vendor",
                                                        "signedPrefix": "vendor.example.com"}),
        "open.example.com": [{"type": "insecureAcceptAnything"}],
        "": sigstore(),
    })
    objs = cluster_image_policies.objects(pol)
    assert [o["spec"]["scopes"] for o in objs] == [["*.example.org"], ["mirror.example.com/vendor"], ["quay.io/ns"],
                                                   ["registry.example.com:5000/team/app"]]
    for obj in objs:
        validate(obj)
    identities = [o["spec"]["policy"]["signedIdentity"] for o in objs]
    assert identities == [{"matchPolicy": "ExactRepository", "exactRepository": {"repository": "quay.io/ns/app"}},
                          {"matchPolicy": "RemapIdentity", "remapIdentity": {"prefix": "mirror.example.com/vendor",
                                                                            "signedPrefix": "vendor.example.com"}},
                          {"matchPolicy": "MatchRepository"}, {"matchPolicy": "MatchRepoDigestOrExact"}]
    pem = base64.b64decode(objs[2]["spec"]["policy"]["rootOfTrust"]["publicKey"]["keyData"])
    assert pem == (KEYS / "cosign.pub").read_bytes()  # the key as the policy names it
    # rendered from the report alone, once each
    text = cluster_image_policies.files([Report(None, "native", [], "", sections={
        cluster_image_policies.REPORT_KEY: objs + objs[:1]})])[0].text
    assert list(yaml.safe_load_all(text)) == sorted(objs, key=lambda o: o["metadata"]["name"])


@pytest.mark.parametrize("req,words", [
    ([{"type": "sigstoreSigned", "keyPaths": [str(KEYS / "cosign.pub"), str(KEYS / "cosign2.pub")]}], "2 keys"),
    (sigstore(identity={"type": "matchExact"}), "signedIdentity matchExact"),
    (sigstore(identity={"type": "exactReference", "dockerReference": "quay.io/a:1"}), "exactReference"),
])
def test_what_the_crd_cannot_say_is_refused(tmp_path, req, words):
    with pytest.raises(InputError) as info:
        cluster_image_policies.objects(load(tmp_path, {"quay.io/ns": req}))
    assert words in str(info.value) and "policy.json:" in str(info.value)


def test_a_scope_without_a_qualified_host_is_refused(tmp_path):
    with pytest.raises(InputError) as info:
        cluster_image_policies.objects(load(tmp_path, {"myregistry/ns": sigstore()}))
    assert "fully qualified host" in str(info.value)
