"""The UpdateService (``updateservice.operator.openshift.io/v1``, the OpenShift Update Service operator's kind) that
serves the mirrored graph data: ``graphDataImage`` the graph-data image by digest on the first mirror holding it
(the mirror nodes try first), ``releases`` that mirror's release-images repository, namespace and replicas from
``platform.graph``.

It lives in ``cluster-resources/update-service/``, which the ``Kustomization`` does not list and ``oc apply -f
cluster-resources/`` does not read (it does not recurse): the kind exists only once the operator is installed, and
an apply of every other object must not fail for want of it.
"""

from __future__ import annotations

from ..goyaml import dump_yaml
from . import graph_image

DIRECTORY = "update-service"
FILENAME = "updateservice.yaml"
NAME = "mirrorsync"
API_VERSION = "updateservice.operator.openshift.io/v1"


def resource(entries: list[dict]) -> dict | None:
    """The UpdateService for the reports' ``graphImage`` entries; None when no mirror holds the image."""
    for entry in entries:
        for m in entry.get("mirrors") or []:
            if m.get("digest"):  # pushed, up to date, or kept from the previous report: on that mirror
                repository = m["reference"].rpartition(":")[0]
                return {"apiVersion": API_VERSION, "kind": "UpdateService",
                        "metadata": {"name": NAME, "namespace": entry.get("namespace")},
                        "spec": {"graphDataImage": f"{repository}@{m['digest']}", "releases": m["releases"],
                                 "replicas": int(entry.get("replicas") or 1)}}
    return None


def text(reports) -> str | None:
    obj = resource([e for r in reports for e in graph_image.entries(r)])
    if obj is None:
        return None
    return ("# Written by mirrorsync. Apply once the OpenShift Update Service operator is installed (README,\n"
            "# \"Upgrades at the dark site\"): oc apply -f cluster-resources/update-service/\n" + dump_yaml(obj))
