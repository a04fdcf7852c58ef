"""The UpdateService rendered from a report's ``graphImage``: the first mirror holding the image, by digest; the
namespace and replicas the manifest gave; valid for the operator's CRD (vendored in tests/data/crds/)."""

from __future__ import annotations

import jsonschema
import pytest
import yaml

from mirrorsync.openshift.releases import graph_image, update_service
from mirrorsync.sync.report import Report
from support.update_service_crd import validate_update_service

DIGEST = "sha256:" + "a" * 64


def entry(*statuses: str, namespace="openshift-update-service", replicas=2) -> dict:
    return {"baseImage": "registry.access.redhat.com/ubi9/ubi:latest", "namespace": namespace, "replicas": replicas,
            "mirrors": [{"mirror": f"m{n}.example.com/ocp", "reference": f"m{n}.example.com/ocp/openshift/graph-image:latest",
                         "releases": f"m{n}.example.com/ocp/openshift/release-images", "status": s,
                         "digest": DIGEST if s != "failed" else None} for n, s in enumerate(statuses)]}


def report(*entries: dict) -> Report:
    return Report(manifest="m.yaml", engine="native", mirrors=[], startedAt="", sections={"graphImage": list(entries)})


def test_the_first_mirror_holding_the_image_is_named_by_digest_with_its_release_images():
    text = update_service.text([report(entry("failed", "up-to-date", "pushed"))])
    obj = yaml.safe_load(text)
    assert obj == {"apiVersion": "updateservice.operator.openshift.io/v1", "kind": "UpdateService",
                   "metadata": {"name": "mirrorsync", "namespace": "openshift-update-service"},
                   "spec": {"graphDataImage": f"m1.example.com/ocp/openshift/graph-image@{DIGEST}",
                            "releases": "m1.example.com/ocp/openshift/release-images", "replicas": 2}}
    validate_update_service(obj)
    single = yaml.safe_load(update_service.text([report(entry("pushed", namespace="osus", replicas=1))]))
    assert (single["metadata"]["namespace"], single["spec"]["replicas"]) == ("osus", 1)
    validate_update_service(single)


def test_no_update_service_when_no_mirror_holds_the_image_or_there_is_no_graph():
    assert update_service.text([report(entry("failed"))]) is None
    assert update_service.text([report()]) is None


@pytest.mark.parametrize("path, value", [(("spec", "replicas"), 0), (("spec", "replicas"), "2"),
                                         (("spec", "graphDataImages"), "x"), (("metadata", "namespace"), None)])
def test_the_crd_schema_refuses_what_the_api_server_refuses(path, value):
    obj = yaml.safe_load(update_service.text([report(entry("pushed"))]))
    if value is None:
        del obj[path[0]][path[1]]
    else:
        obj[path[0]][path[1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validate_update_service(obj)


def test_a_mirror_the_run_did_not_reach_keeps_the_previous_graph_image_and_the_update_service_stays():
    previous = report(entry("pushed"))
    now = entry("failed")
    now["mirrors"][0]["error"] = "the base image is not on this mirror: connection refused"
    kept = graph_image.keep_previous(now, previous)
    [m] = kept["mirrors"]
    assert (m["status"], m["digest"]) == ("failed", DIGEST)
    assert m["error"].startswith("the base image is not on this mirror") and "previous report is kept" in m["error"]
    assert graph_image.failed(report(kept))
    obj = yaml.safe_load(update_service.text([report(kept)]))
    assert obj["spec"]["graphDataImage"] == f"m0.example.com/ocp/openshift/graph-image@{DIGEST}"
