"""The cluster objects that make a cluster use a mirrored catalog: a CatalogSource (OLM v0) and a ClusterCatalog
(OLM v1) per catalog, each naming the rebuilt catalog by digest on the first mirror that holds it (the mirror
nodes try first)."""

from __future__ import annotations

import re

from ..goyaml import dump_yaml_documents
from ..mirrorsets import MirrorSetFile

CATALOG_SOURCE_FILE = "catalogsource.yaml"
CLUSTER_CATALOG_FILE = "clustercatalog.yaml"
FILES = (CATALOG_SOURCE_FILE, CLUSTER_CATALOG_FILE)
NAMESPACE = "openshift-marketplace"


def object_name(prefix: str, target: str) -> str:
    """``cs-<last path component>-<tag>`` of ``host/path:tag``, as a DNS-1123 label (at most 63 characters)."""
    repo, _, tag = target.rpartition(":")
    base = f"{prefix}-{repo.rsplit('/', 1)[-1]}-{tag}".lower()
    return re.sub(r"[^a-z0-9-]+", "-", base)[:63].strip("-")


def image_of(entry: dict) -> tuple[str, str] | None:
    """(reference by digest, target ``repo:tag``) of the first mirror holding the catalog entry's image."""
    for m in entry.get("mirrors") or []:
        if m.get("status") in ("pushed", "up-to-date") and m.get("digest"):
            repo = m["reference"].rpartition(":")[0]
            return f"{repo}@{m['digest']}", m["reference"]
    return None


def render(catalogs: list[dict]) -> list[MirrorSetFile]:
    """The CatalogSource and ClusterCatalog files for the report's ``catalogs`` (none when nothing is held)."""
    sources, cluster_catalogs = [], []
    for entry in sorted(catalogs, key=lambda e: e.get("catalog") or ""):
        found = image_of(entry)
        if found is None:
            continue
        image, target = found
        display = entry.get("catalog") or target
        sources.append({
            "apiVersion": "operators.coreos.com/v1alpha1", "kind": "CatalogSource",
            "metadata": {"name": object_name("cs", target), "namespace": NAMESPACE},
            "spec": {"sourceType": "grpc", "image": image, "displayName": display, "publisher": "mirrorsync"}})
        cluster_catalogs.append({
            "apiVersion": "olm.operatorframework.io/v1", "kind": "ClusterCatalog",
            "metadata": {"name": object_name("cc", target)},
            "spec": {"source": {"type": "Image", "image": {"ref": image}}}})
    files = []
    if sources:
        files.append(MirrorSetFile(CATALOG_SOURCE_FILE, dump_yaml_documents(sources)))
        files.append(MirrorSetFile(CLUSTER_CATALOG_FILE, dump_yaml_documents(cluster_catalogs)))
    return files
