"""The tests' CRD schema (support/crds.py) refuses what the API server refuses, so checks against it can fail."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from support.crds import validate

IDMS: dict[str, Any] = {
    "apiVersion": "config.openshift.io/v1", "kind": "ImageDigestMirrorSet", "metadata": {"name": "mirrorsync-0"},
    "spec": {"imageDigestMirrors": [
        {"source": "quay.io/ocp/release", "mirrors": ["m.example.com:5000/ocp/release"],
         "mirrorSourcePolicy": "NeverContactSource"},
        {"source": "*.example.org"}]},
}


def changed(path: tuple[Any, ...], value: Any, obj: dict[str, Any] = IDMS) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    target = out
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


def test_a_valid_idms_and_itms_pass() -> None:
    validate(IDMS)
    itms = changed(("spec",), {"imageTagMirrors": IDMS["spec"]["imageDigestMirrors"]})
    validate(changed(("kind",), "ImageTagMirrorSet", itms))


ENTRY = ("spec", "imageDigestMirrors", 0)


@pytest.mark.parametrize(("path", "value"), [
    ((*ENTRY, "mirrors"), ["m.example.com/a", "m.example.com/a"]),  # x-kubernetes-list-type: set
    ((*ENTRY, "mirrors"), ["*.example.com"]),
    ((*ENTRY, "mirrors"), ["m.example.com/a:tag"]),
    ((*ENTRY, "source"), "quay.io/A"),
    ((*ENTRY, "source"), "*.example.com:5000"),
    ((*ENTRY, "mirrorSourcePolicy"), "Never"),
    ((*ENTRY, "source"), KeyError),
    ((*ENTRY, "mirror"), ["m.example.com/a"]),  # an unknown field would be pruned by the API server
    (("spec", "imageDigestMirror"), []),
    (("spec",), KeyError),
    (("metadata", "name"), "Mirrorsync"),
    (("metadata", "name"), "a" * 254),
    (("metadata", "name"), KeyError),
])
def test_what_the_api_server_refuses_is_refused(path: tuple[Any, ...], value: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate(changed(path, value))


def test_icsp_has_no_patterns_and_no_set_in_its_crd() -> None:
    icsp = {"apiVersion": "operator.openshift.io/v1alpha1", "kind": "ImageContentSourcePolicy",
            "metadata": {"name": "i"},
            "spec": {"repositoryDigestMirrors": [{"source": "Q.io/A", "mirrors": ["*.m", "*.m"]}]}}
    validate(icsp)
    with pytest.raises(jsonschema.ValidationError):
        validate(changed(("spec", "repositoryDigestMirrors", 0, "mirrorSourcePolicy"), "NeverContactSource", icsp))
