"""Validate emitted objects against the real OpenShift CRD schemas in ../shared/openshift/crds."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CRD_DIR = SHARED / "openshift" / "crds"


@functools.cache
def schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the openAPIV3Schema of that served version."""
    out = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            out[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return out


def validate(obj: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``obj`` is valid for its CRD (including metadata.name)."""
    schema = schemas()[(obj["apiVersion"], obj["kind"])]
    jsonschema.validate(obj, schema)
    name = obj["metadata"]["name"]
    assert 0 < len(name) <= 253 and name == name.lower(), f"invalid metadata.name {name!r}"
