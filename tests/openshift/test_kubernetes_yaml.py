"""The Kubernetes manifests and the Dockerfile, checked offline against the real API types and the real CLI.

Each YAML document is walked against the ``kubernetes`` client's models (``openapi_types``/``attribute_map``, the
API's own field names and types), rejecting any key the type does not have, then deserialised into the model, which
enforces required fields. The container arguments are parsed by mirrorsync's own command line.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from typer.main import get_command

from mirrorsync.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "configs" / "kubernetes"
MODELS = {("v1", "ConfigMap"): "V1ConfigMap", ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
          ("batch/v1", "CronJob"): "V1CronJob", ("batch/v1", "Job"): "V1Job"}
_PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}


def documents() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc is not None:
                out.append((f"{path.name}[{i}]", doc))
    return out


def strict(value, type_name: str, path: str) -> list[str]:
    """Problems with ``value`` as the API type ``type_name``: unknown fields, wrong types."""
    m = re.fullmatch(r"(?:List|list)\[(.+)\]", type_name)
    if m:
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        return [p for i, v in enumerate(value) for p in strict(v, m.group(1), f"{path}[{i}]")]
    m = re.fullmatch(r"(?:Dict\[|dict\()str, (.+)[\])]", type_name)
    if m:
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping, got {type(value).__name__}"]
        return [p for k, v in value.items() for p in strict(v, m.group(1), f"{path}.{k}")]
    if type_name in _PRIMITIVES:
        ok = isinstance(value, _PRIMITIVES[type_name]) and not (type_name == "int" and isinstance(value, bool))
        return [] if ok else [f"{path}: expected {type_name}, got {type(value).__name__} {value!r}"]
    if type_name == "datetime":
        return [] if isinstance(value, str) else [f"{path}: expected a timestamp"]
    model = getattr(client, type_name)
    if not isinstance(value, dict):
        return [f"{path}: expected a {type_name} mapping, got {type(value).__name__}"]
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    problems = []
    for key, v in value.items():
        if key not in by_json:
            problems.append(f"{path}.{key}: no such field in {type_name}")
        elif v is not None:
            problems += strict(v, model.openapi_types[by_json[key]], f"{path}.{key}")
    return problems


def test_there_are_manifests_for_cronjob_indexed_job_and_merge():
    kinds = sorted((d["kind"], d["metadata"]["name"]) for _, d in documents())
    assert ("CronJob", "mirrorsync") in kinds and ("Job", "mirrorsync-shards") in kinds
    assert ("Job", "mirrorsync-merge") in kinds


@pytest.mark.parametrize("where,doc", documents(), ids=[w for w, _ in documents()])
def test_documents_match_the_api_types(where, doc):
    model = MODELS.get((doc.get("apiVersion"), doc.get("kind")))
    assert model, f"{where}: no model for {doc.get('apiVersion')} {doc.get('kind')}"
    assert strict(doc, model, where) == []
    # the client's own deserialisation: required fields and client-side validation
    api = client.ApiClient()
    obj = api._ApiClient__deserialize(doc, model)  # noqa: SLF001 - the public path needs an HTTP response
    assert api.sanitize_for_serialization(obj)["kind"] == doc["kind"]


def test_the_strict_walk_rejects_unknown_and_mistyped_fields():
    doc = yaml.safe_load((K8S / "cronjob.yaml").read_text())
    pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    pod["containers"][0]["imagePullPolic"] = "Always"
    pod["securityContext"]["runAsUser"] = "10001"
    doc["spec"]["concurrencyPolicy"] = ["Forbid"]
    problems = strict(doc, "V1CronJob", "cronjob")
    assert any("containers[0].imagePullPolic: no such field in V1Container" in p for p in problems)
    assert any("securityContext.runAsUser: expected int" in p for p in problems)
    assert any("concurrencyPolicy: expected str" in p for p in problems)


def pod_specs() -> list[tuple[str, dict, dict]]:
    out = []
    for where, doc in documents():
        if doc["kind"] == "CronJob":
            out.append((where, doc, doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
        elif doc["kind"] == "Job":
            out.append((where, doc, doc["spec"]["template"]["spec"]))
    return out


def cli_parse(args: list[str], env: dict[str, str]):
    """Parse a container's args with mirrorsync's real CLI (``$(VAR)`` expanded as the kubelet does)."""
    expanded = [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), "0"), a) for a in args]
    group = get_command(app)
    parent = group.make_context("mirrorsync", list(expanded))
    sub = group.get_command(parent, expanded[0])
    assert sub is not None, f"mirrorsync has no command {expanded[0]!r}"
    return sub.make_context(expanded[0], expanded[1:], parent=parent)


@pytest.mark.parametrize("where,doc,pod", pod_specs(), ids=[w for w, _, _ in pod_specs()])
def test_pods_run_mirrorsync_as_the_image_user_with_mounted_inputs(where, doc, pod):
    dockerfile_user = dockerfile()["USER"][-1].split(":")[0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == dockerfile_user
    (container,) = pod["containers"]
    assert "command" not in container, "the image's entrypoint is mirrorsync"
    env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
    ctx = cli_parse(container["args"], env)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(mounts.values()) <= set(volumes), "every mount names a volume"

    def volume_for(path: str) -> dict:
        best = max((m for m in mounts if path.startswith(m.rstrip("/") + "/")), key=len)
        return volumes[mounts[best]]

    inputs = [ctx.params["manifest"]] if ctx.params.get("manifest") else []
    for p in inputs + list(ctx.params.get("reports") or []):
        assert volume_for(str(p)), f"{p} is on no mounted volume"
    if ctx.params.get("authfile"):
        secret = volume_for(ctx.params["authfile"])["secret"]
        assert {"key": ".dockerconfigjson", "path": Path(ctx.params["authfile"]).name} in secret["items"]
    if ctx.params.get("output_dir"):
        assert "persistentVolumeClaim" in volume_for(str(ctx.params["output_dir"]) + "/x")


def test_cronjob_forbids_overlapping_runs():
    (cron,) = [d for _, d in documents() if d["kind"] == "CronJob"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"


def test_indexed_job_shards_match_completions_and_merge():
    (shards,) = [d for _, d in documents() if d["metadata"]["name"] == "mirrorsync-shards"]
    (merge,) = [d for _, d in documents() if d["metadata"]["name"] == "mirrorsync-merge"]
    spec = shards["spec"]
    assert spec["completionMode"] == "Indexed"
    container = spec["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["MIRRORSYNC_SHARD_COUNT"]) == spec["completions"]
    outputs = {str(cli_parse(container["args"], {**env, "JOB_COMPLETION_INDEX": str(i)}).params["output_dir"])
               for i in range(spec["completions"])}
    assert len(outputs) == spec["completions"], "each shard writes its own report"
    ctx = cli_parse(merge["spec"]["template"]["spec"]["containers"][0]["args"], {})
    assert {str(Path(p).parent) for p in ctx.params["reports"]} == outputs


# --- the Dockerfile -------------------------------------------------------------------------------------------


def dockerfile() -> dict[str, list[str]]:
    """Instructions of the final stage (after the last FROM) by keyword, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[dict[str, list[str]]] = []
    build_args: dict[str, str] = {}  # ARGs before the first FROM, with their defaults: what FROM lines may use
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "ARG" and not stages:
            name, _, default = rest.strip().partition("=")
            build_args[name] = default
            continue
        if keyword.upper() == "FROM":
            stages.append({})
            rest = re.sub(r"\$\{(\w+)\}", lambda m: build_args[m.group(1)], rest)
        stages[-1].setdefault(keyword.upper(), []).append(rest.strip())
    assert len(stages) >= 1
    final = stages[-1]
    final["_ALL_STAGES"] = [f"{k} {v}" for s in stages for k, vs in s.items() for v in vs]
    return final


def test_dockerfile_runs_mirrorsync_as_non_root_with_skopeo():
    d = dockerfile()
    assert re.match(r"(python:3\.11-slim-bookworm|debian:bookworm-slim)\b", d["FROM"][-1])
    user = d["USER"][-1].split(":")
    assert user[0].isdigit() and int(user[0]) != 0 and (len(user) == 1 or int(user[1]) != 0)
    assert json.loads(d["ENTRYPOINT"][-1]) == ["mirrorsync"]
    scripts = re.search(r"\[project\.scripts\]\s*\n(?:.*\n)*?mirrorsync\s*=", (ROOT / "pyproject.toml").read_text())
    assert scripts, "the entrypoint is the console script pyproject.toml installs"
    runs = " ".join(d["RUN"])
    assert "apt-get install" in runs and "skopeo" in shlex.split(runs)
    assert f"--uid {user[0]}" in runs, "the USER is created in the image"
    assert any("pip install" in r and r.rstrip().endswith(" .") for r in d["_ALL_STAGES"]), "installs this package"


def test_dockerfile_copies_only_what_dockerignore_lets_in():
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*", "everything is excluded unless named"
    allowed = {p[1:].rstrip("/") for p in ignore if p.startswith("!")}
    copies = [c for c in dockerfile()["_ALL_STAGES"] if c.startswith("COPY ") and "--from=" not in c]
    assert copies
    for c in copies:
        sources = c.split()[1:-1]
        for s in sources:
            assert s.rstrip("/") in allowed, f"{s} is not in the build context (.dockerignore)"
            assert (ROOT / s).exists(), s
