"""The cluster's policy from the same file: ``ClusterImagePolicy`` objects (``config.openshift.io/v1``) for every
``sigstoreSigned`` requirement of the signature policy's ``docker`` scopes, so that the nodes enforce at pull what
the sync enforced at copy.

Scopes stay the policy's, the original names: CRI-O applies policy by the name a pod asks for, through the mirrors.
Each object holds one public key (``rootOfTrust.policyType: PublicKey``) and the requirement's ``signedIdentity``
mapped (``matchRepoDigestOrExact`` -> ``MatchRepoDigestOrExact``, ``matchRepository``, ``exactRepository``,
``remapIdentity``). What the CRD cannot say is refused (``InputError``) rather than weakened: a requirement with
several keys (any of them would do; objects for one scope all apply), ``matchExact`` and ``exactReference``. The
transport's ``""`` scope and ``default`` have no ClusterImagePolicy scope and are left to the cluster's own policy.

The objects are kept in the report (``clusterImagePolicies``), so that ``generate`` writes them from reports alone.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import InputError
from ..sync.report import Report
from ..trust.policy import SIGSTORE_SIGNED, Policy
from .goyaml import dump_yaml_documents
from .mirrorsets import MirrorSetFile

FILENAME = "clusterimagepolicy.yaml"
REPORT_KEY = "clusterImagePolicies"
API_VERSION = "config.openshift.io/v1"
_MATCH = {"matchRepoDigestOrExact": "MatchRepoDigestOrExact", "matchRepository": "MatchRepository",
          "exactRepository": "ExactRepository", "remapIdentity": "RemapIdentity"}


def objects(policy: Policy, name: str = "mirrorsync") -> list[dict[str, Any]]:
    """The ClusterImagePolicy objects for ``policy`` (see the module), sorted by scope; ``InputError`` naming the
    requirement for what the CRD cannot hold."""
    out = []
    for scope, requirements in sorted(policy.docker.items()):
        signed = [r for r in requirements if r.type == SIGSTORE_SIGNED]
        if not scope or not signed:
            continue
        host = scope.split("/")[0].split(":")[0]
        if "." not in host and host != "localhost":
            raise InputError(f"{signed[0].where}: clusterImagePolicy: scope {scope!r} cannot be a ClusterImagePolicy "
                             "scope (the CRD wants a fully qualified host name or localhost)")
        for i, req in enumerate(signed):
            where = f"{req.where}: clusterImagePolicy"
            if len(req.public_keys) != 1:
                raise InputError(f"{where}: a ClusterImagePolicy holds one public key and every object of a scope "
                                 f"applies, so {len(req.public_keys)} keys (any one of them enough) cannot be written")
            if req.identity.type not in _MATCH:
                raise InputError(f"{where}: signedIdentity {req.identity.type} has no ClusterImagePolicy matchPolicy "
                                 f"(one of {', '.join(_MATCH)})")
            identity: dict[str, Any] = {"matchPolicy": _MATCH[req.identity.type]}
            if req.identity.docker_repository is not None:
                identity["exactRepository"] = {"repository": req.identity.docker_repository}
            if req.identity.prefix is not None:
                identity["remapIdentity"] = {"prefix": req.identity.prefix, "signedPrefix": req.identity.signed_prefix}
            pem = req.public_keys[0].public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            out.append({"apiVersion": API_VERSION, "kind": "ClusterImagePolicy",
                        "metadata": {"name": f"{name}-{hashlib.sha256(scope.encode()).hexdigest()[:12]}-{i}"},
                        "spec": {"scopes": [scope], "policy": {
                            "rootOfTrust": {"policyType": "PublicKey",
                                            "publicKey": {"keyData": base64.b64encode(pem).decode()}},
                            "signedIdentity": identity}}})
    return out


def files(reports: list[Report]) -> list[MirrorSetFile]:
    """``clusterimagepolicy.yaml`` from what the reports kept, each object once; none when they kept none."""
    by_name: dict[str, dict] = {}
    for rep in reports:
        for obj in rep.sections.get(REPORT_KEY) or []:
            by_name.setdefault(obj["metadata"]["name"], obj)
    if not by_name:
        return []
    return [MirrorSetFile(FILENAME, dump_yaml_documents(by_name[n] for n in sorted(by_name)))]
