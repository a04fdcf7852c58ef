"""The UpdateService's schema, read from the cincinnati-operator's CRD as vendored in tests/data/crds/ (origin in
tests/data/README.md), as the API server applies it: its ``openAPIV3Schema`` as it is, plus the rules a structural
schema implies that a JSON Schema validator does not read from it (unknown fields pruned, hence refused here;
``metadata.name``/``namespace`` as Kubernetes names; ``format: int32`` as its range)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRD_FILE = Path(__file__).resolve().parents[1] / "data" / "crds" / "updateservice.operator.openshift.io_updateservices.yaml"
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


@functools.cache
def schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_FILE.read_text())
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    out = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    out["additionalProperties"] = False
    out["properties"]["spec"]["additionalProperties"] = False
    out["properties"]["spec"]["properties"]["replicas"]["maximum"] = 2**31 - 1
    out["properties"]["apiVersion"]["const"] = f"{crd['spec']['group']}/v1"
    out["properties"]["kind"]["const"] = crd["spec"]["names"]["kind"]
    out["properties"]["metadata"] = {
        "type": "object", "required": ["name", "namespace"],  # namespaced: a file without one lands anywhere
        "properties": {"name": {"type": "string", "maxLength": 63, "pattern": DNS1123_LABEL},
                       "namespace": {"type": "string", "maxLength": 63, "pattern": DNS1123_LABEL}}}
    return out


def validate_update_service(obj: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless the operator's CRD accepts ``obj``."""
    jsonschema.validate(obj, schema())
