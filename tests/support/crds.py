"""The OpenShift CRD constraints emitted objects must meet, as JSON Schema: the tests' own copy of the facts.

Written from the openAPIV3Schema of openshift/api's generated CRDs (Apache-2.0; API reviews openshift/api#1126
for IDMS/ITMS, #470 for ICSP):

- config/v1/zz_generated.crd-manifests/0000_10_config-operator_01_imagedigestmirrorsets.crd.yaml
- config/v1/zz_generated.crd-manifests/0000_10_config-operator_01_imagetagmirrorsets.crd.yaml
- operator/v1alpha1/zz_generated.crd-manifests/0000_10_config-operator_01_imagecontentsourcepolicies.crd.yaml

Types, ``required``, the ``enum`` and the ``pattern`` strings are the CRDs' own, character for character. Three
rules the API server applies that a JSON Schema validator would not read from a CRD are spelt out:

- ``x-kubernetes-list-type: set`` (IDMS/ITMS ``mirrors``): duplicates are refused, hence ``uniqueItems``.
  (``atomic``, on the entry lists, allows duplicates: nothing to add.)
- Fields a structural schema does not name are pruned by the API server (or refused under strict field
  validation): ``additionalProperties: false``, so a misspelt field fails here rather than vanish on the cluster.
- ``metadata.name`` of a custom resource must be a DNS-1123 subdomain (Kubernetes apimachinery's rule for names).

The CRDs set no ``maxLength`` on these fields.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

# The CRDs' patterns for a mirror (host[:port][/path]) and a source (the same, or *.host).
MIRROR_PATTERN = (r"^((?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9]"
                  r"[a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(?::[0-9]+)?)(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?$")
SOURCE_PATTERN = r"^\*(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+$|" + MIRROR_PATTERN
POLICIES = ["NeverContactSource", "AllowContactingSource"]

DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
METADATA = {"type": "object", "required": ["name"],
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 253,
                                    "pattern": DNS1123_SUBDOMAIN}}}


def _object(spec_list: str, entry: dict[str, Any], *, status: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": METADATA,
        "spec": {"type": "object", "additionalProperties": False,
                 "properties": {spec_list: {"type": "array", "items": entry}}},
    }
    if status:
        properties["status"] = {"type": "object"}
    return {"type": "object", "required": ["spec"], "additionalProperties": False, "properties": properties}


_MIRROR_SET_ENTRY = {
    "type": "object", "required": ["source"], "additionalProperties": False,
    "properties": {
        "source": {"type": "string", "pattern": SOURCE_PATTERN},
        "mirrors": {"type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": MIRROR_PATTERN}},
        "mirrorSourcePolicy": {"type": "string", "enum": POLICIES},
    },
}
_ICSP_ENTRY = {
    "type": "object", "required": ["source"], "additionalProperties": False,
    "properties": {"source": {"type": "string"}, "mirrors": {"type": "array", "items": {"type": "string"}}},
}

SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("config.openshift.io/v1", "ImageDigestMirrorSet"): _object("imageDigestMirrors", _MIRROR_SET_ENTRY, status=True),
    ("config.openshift.io/v1", "ImageTagMirrorSet"): _object("imageTagMirrors", _MIRROR_SET_ENTRY, status=True),
    ("operator.openshift.io/v1alpha1", "ImageContentSourcePolicy"): _object("repositoryDigestMirrors", _ICSP_ENTRY,
                                                                            status=False),
}


def validate(obj: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless the cluster would accept ``obj`` as it is (KeyError: no CRD)."""
    if (obj.get("apiVersion"), obj.get("kind")) == ("config.openshift.io/v1", "ClusterImagePolicy"):
        validate_cluster_image_policy(obj)
        return
    jsonschema.validate(obj, SCHEMAS[(obj["apiVersion"], obj["kind"])])


# ClusterImagePolicy: the CRD itself, byte for byte from openshift/api (tests/data/README.md), its openAPIV3Schema
# read by jsonschema; the CEL rules (x-kubernetes-validations) on what mirrorsync fills are written out below, as
# the API server applies them ([[:xdigit:]] spelt for Python).
_CIP_CRD = yaml.safe_load((Path(__file__).parent.parent / "data" / "crds" /
                           "config.openshift.io_clusterimagepolicies.yaml").read_text())
_CIP_SCHEMA = next(v for v in _CIP_CRD["spec"]["versions"] if v["name"] == "v1")["schema"]["openAPIV3Schema"]
_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_CIP_SCOPE = re.compile(rf"^((((?:{_COMPONENT})(?:\.(?:{_COMPONENT}))+(?::[0-9]+)?)|(localhost(?::[0-9]+)?))"
                        r"(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?)(?::([\w][\w.-]{0,127}))?"
                        r"(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}))?$")
_CIP_WILDCARD = re.compile(rf"^\*(?:\.(?:{_COMPONENT}))+$")


def validate_cluster_image_policy(obj: dict[str, Any]) -> None:
    jsonschema.validate(obj, _CIP_SCHEMA)
    assert obj["apiVersion"] == f"{_CIP_CRD['spec']['group']}/v1" and obj["kind"] == _CIP_CRD["spec"]["names"]["kind"]
    for scope in obj["spec"]["scopes"]:
        assert (_CIP_WILDCARD if "*" in scope else _CIP_SCOPE).match(scope), scope
        host = scope.split("/")[0]
        assert len(host.split(".")) > 1 or host.split(":")[0] == "localhost", scope
    pem = base64.b64decode(obj["spec"]["policy"]["rootOfTrust"]["publicKey"]["keyData"]).decode()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----") and pem.endswith("-----END PUBLIC KEY-----\n")
    name = obj["metadata"]["name"]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name) and len(name) <= 253, name
