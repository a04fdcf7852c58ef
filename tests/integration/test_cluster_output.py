"""What ``run``, ``import``, ``generate`` and the configs/kubernetes Jobs write for a cluster, against the real
registry: one directory ``kubectl -f`` and ``kubectl kustomize`` read without a duplicate, and output directories
of the earlier layout (CR files directly in the output directory) upgraded by one run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from support.cli import mirrorsync, registry_settings, write_manifest
from support.kubectl import assert_applicable

pytestmark = pytest.mark.integration

CR_FILES = ("imagedigestmirrorset.yaml", "imagetagmirrorset.yaml", "imagecontentsourcepolicy.yaml")
K8S = Path(__file__).resolve().parents[2] / "configs" / "kubernetes"


@pytest.fixture
def manifest(tmp_path, registry, mirror_registry, seed, unique_repo) -> Path:
    images = [seed(registry, unique_repo(name), "v1", kind="oci", arches=("amd64",), seed=i)
              for i, name in enumerate(("app", "db"))]
    return write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/m"],
                          images=[{"source": f"{registry.host}/{img.repository}:v1"} for img in images],
                          registries={r.host: registry_settings(r) for r in (registry, mirror_registry)},
                          options={"retries": 1})


def to_earlier_layout(out: Path) -> dict[str, bytes]:
    """Turn an output directory into what earlier versions wrote: the same CR files, directly in it."""
    crs = out / "cluster-resources"
    for path in crs.iterdir():
        if path.name in CR_FILES:
            path.rename(out / path.name)
    shutil.rmtree(crs)
    return {name: (out / name).read_bytes() for name in CR_FILES if (out / name).exists()}


def cr_files_directly_in(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.suffix in (".yaml", ".yml", ".json") and p.name != "report.json")


def registries_conf(path: Path) -> str:
    proc = mirrorsync("registries-conf", str(path))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_run_writes_one_applicable_directory_and_upgrades_the_earlier_layout(manifest, tmp_path):
    out = tmp_path / "out"
    first = mirrorsync("run", str(manifest), "--output-dir", str(out), "--icsp")
    assert first.returncode == 0, first.stderr
    crs = out / "cluster-resources"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["cluster-resources", "report.json"]
    assert first.stdout.splitlines() == [str(crs / n) for n in (*CR_FILES, "Kustomization")]
    kinds = assert_applicable(crs, tmp_path)
    assert [k for k, _ in kinds] == ["ImageContentSourcePolicy", "ImageDigestMirrorSet", "ImageTagMirrorSet"]
    new_bytes = {p.name: p.read_bytes() for p in crs.iterdir()}

    earlier = to_earlier_layout(out)
    assert sorted(earlier) == sorted(CR_FILES)
    conf_earlier = registries_conf(out)
    assert "[[registry.mirror]]" in conf_earlier
    assert mirrorsync("verify", str(out)).returncode == 0

    again = mirrorsync("run", str(manifest), "--output-dir", str(out), "--icsp")
    assert again.returncode == 0, again.stderr
    assert cr_files_directly_in(out) == []
    for name in CR_FILES:
        assert f"removed {out / name}, a file of the earlier output layout (now {crs / name})" in again.stderr
    assert {p.name: p.read_bytes() for p in crs.iterdir()} == new_bytes
    assert assert_applicable(crs, tmp_path) == kinds
    assert registries_conf(out) == conf_earlier
    verified = mirrorsync("verify", str(out))
    assert verified.returncode == 0 and "OK: 2 image(s)" in verified.stderr, verified.stderr

    # --icsp dropped: its file leaves the directory and the Kustomization, so neither -f nor -k applies it again
    without = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert without.returncode == 0, without.stderr
    assert "ImageContentSourcePolicy" not in {k for k, _ in assert_applicable(crs, tmp_path)}
    assert "imagecontentsourcepolicy" not in (crs / "Kustomization").read_text()


def test_an_earlier_icsp_is_removed_by_a_run_without_icsp(manifest, tmp_path):
    out = tmp_path / "out"
    assert mirrorsync("run", str(manifest), "--output-dir", str(out), "--icsp").returncode == 0
    to_earlier_layout(out)
    run = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert run.returncode == 0, run.stderr
    assert f"removed {out / 'imagecontentsourcepolicy.yaml'}" in run.stderr
    assert "this run writes no such objects" in run.stderr
    assert cr_files_directly_in(out) == []
    assert [k for k, _ in assert_applicable(out / "cluster-resources", tmp_path)] == \
        ["ImageDigestMirrorSet", "ImageTagMirrorSet"]


def test_generate_and_import_write_the_same_directory_over_the_earlier_layout(manifest, tmp_path):
    out = tmp_path / "out"
    assert mirrorsync("run", str(manifest), "--output-dir", str(out)).returncode == 0
    want = {p.name: p.read_bytes() for p in (out / "cluster-resources").iterdir()}

    regen = tmp_path / "regen"
    regen.mkdir()
    shutil.copytree(out, regen, dirs_exist_ok=True)
    to_earlier_layout(regen)
    gen = mirrorsync("generate", str(out / "report.json"), "--output-dir", str(regen))
    assert gen.returncode == 0, gen.stderr
    assert gen.stderr.count("note: removed ") == 2
    assert cr_files_directly_in(regen) == []
    assert {p.name: p.read_bytes() for p in (regen / "cluster-resources").iterdir()} == want

    export = tmp_path / "export"
    assert mirrorsync("export", str(manifest), "--to", str(export)).returncode == 0
    imported = tmp_path / "imported"
    imported.mkdir()
    shutil.copytree(out, imported, dirs_exist_ok=True)
    to_earlier_layout(imported)
    imp = mirrorsync("import", str(export), "--output-dir", str(imported))
    assert imp.returncode == 0, imp.stderr
    assert "a file of the earlier output layout" in imp.stderr
    assert cr_files_directly_in(imported) == []
    assert {p.name: p.read_bytes() for p in (imported / "cluster-resources").iterdir()} == want
    assert_applicable(imported / "cluster-resources", tmp_path)


# --- the CronJob and the sharded Job + merge Job of configs/kubernetes, run as their pods would run them ----------


def container_args(name: str, env: dict[str, str], mounts: dict[str, Path]) -> list[str]:
    """The args of the config's container, ``$(VAR)`` expanded as the kubelet does, mount paths mapped here."""
    docs = [d for p in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    (doc,) = [d for d in docs if d["metadata"]["name"] == name]
    pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"] if doc["kind"] == "CronJob" \
        else doc["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {**{e["name"]: e.get("value", "") for e in container.get("env", [])}, **env}
    args = []
    for arg in container["args"]:
        arg = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)
        for mount, local in mounts.items():
            if arg == mount or arg.startswith(mount + "/"):
                arg = str(local) + arg[len(mount):]
        args.append(arg)
    return args


@pytest.fixture
def pod_volumes(manifest, tmp_path) -> dict[str, Path]:
    config, auth, out = tmp_path / "config", tmp_path / "auth", tmp_path / "pvc"
    for d in (config, auth, out):
        d.mkdir()
    shutil.copy(manifest, config / "manifest.yaml")
    (auth / "auth.json").write_text('{"auths": {}}')
    return {"/config": config, "/auth": auth, "/out": out}


def test_the_cronjob_and_the_merge_job_upgrade_an_earlier_volume(pod_volumes, tmp_path):
    pvc = pod_volumes["/out"]
    env = {"MIRRORSYNC_PUSHGATEWAY": ""}
    nightly = container_args("mirrorsync", env, pod_volumes)
    first = mirrorsync(*nightly, env=env)
    assert first.returncode == 0, first.stderr
    to_earlier_layout(pvc)

    second = mirrorsync(*nightly, env=env)
    assert second.returncode == 0, second.stderr
    assert second.stderr.count("a file of the earlier output layout") == 2  # as JSON log lines
    assert sorted(p.name for p in pvc.iterdir() if not p.name.startswith(".")) == \
        ["cluster-resources", "mirrorsync.prom", "report.json"]
    assert_applicable(pvc / "cluster-resources", tmp_path)
    nightly_crs = {p.name: p.read_bytes() for p in (pvc / "cluster-resources").iterdir()}

    for index in range(4):
        shard_env = {"JOB_COMPLETION_INDEX": str(index)}
        shard = mirrorsync(*container_args("mirrorsync-shards", shard_env, pod_volumes),
                           env={**shard_env, "MIRRORSYNC_SHARD_COUNT": "4"})
        assert shard.returncode == 0, shard.stderr
    merged = pvc / "crs"
    merged.mkdir()
    for name, data in nightly_crs.items():  # what an earlier merge Job left
        if name in CR_FILES:
            (merged / name).write_bytes(data)
    merge = mirrorsync(*container_args("mirrorsync-merge", {}, pod_volumes))
    assert merge.returncode == 0, merge.stderr
    assert cr_files_directly_in(merged) == []
    assert {p.name: p.read_bytes() for p in (merged / "cluster-resources").iterdir()} == nightly_crs
