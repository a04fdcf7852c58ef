"""``convert`` then ``plan`` against the real registry for the shapes of issue 36 (items 1, 2, 4, 5, 6, 8): each file
is written for the test in the shape users have, converted by the real command, and the converted manifest planned
against the loopback docker-registry (and, for releases, the loopback update service): what plan takes from the
real tag lists and graph is what skopeo sync or oc-mirror would take."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from devtools.openshift import GraphServer
from support.cli import mirrorsync, registry_settings
from support.releases import build_channel

pytestmark = pytest.mark.integration

ISC = "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\n"


def convert(tmp_path: Path, name: str, text: str, *mirrors: str, extra=()) -> tuple[object, Path]:
    src = tmp_path / name
    src.write_text(text)
    out = tmp_path / f"{name}.manifest.yaml"
    args = [a for m in mirrors for a in ("--mirror", m)]
    return mirrorsync("convert", str(src), "--output", str(out), *args, *extra), out


def plain_http_sources(manifest: Path, *registries) -> None:
    """The one setting an ImageSetConfiguration cannot say: the loopback registries speak plain HTTP."""
    doc = yaml.safe_load(manifest.read_text())
    doc.setdefault("registries", {}).update({r.host: registry_settings(r) for r in registries})
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))


def plan(manifest: Path) -> dict:
    proc = mirrorsync("plan", str(manifest), "--output", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def jobs(planned: dict) -> list[tuple[str, str | None]]:
    return sorted((j["source"], j["tag"]) for j in planned["jobs"])


def test_skopeo_keys_with_a_namespace_plan_the_repositories_under_it(tmp_path, registry, mirror_registry, seed,
                                                                      unique_repo):
    namespace = unique_repo("group")
    for repo, tags in (("tools/app", ("v1", "v2")), ("lib", ("3.6", "3.7", "v3.7", "3.7.0", "3.7.2", "3.8",
                                                              "3.7.1-rc.1", "latest"))):
        for i, tag in enumerate(tags):
            seed(registry, f"{namespace}/{repo}", tag, kind="oci", arches=("amd64",), seed=i)
    sync = (f"{registry.host}/{namespace}:\n"
            f"  tls-verify: false\n"
            f"  images:\n"
            f"    tools/app: [v2]\n"
            f"  images-by-semver:\n"
            f"    lib: '= 3.7'\n")
    converted, manifest = convert(tmp_path, "sync.yml", sync, f"{mirror_registry.host}/ns",
                                  extra=["--insecure-mirror"])
    assert converted.returncode == 0, converted.stderr
    planned = plan(manifest)
    source = f"{registry.host}/{namespace}"
    # Masterminds reads 3.7 and v3.7 as 3.7.0: '= 3.7' is 3.7.x, with them, without the pre-release
    assert jobs(planned) == sorted([(f"{source}/tools/app", "v2")] + [(f"{source}/lib", t)
                                                                      for t in ("3.7", "v3.7", "3.7.0", "3.7.2")])
    assert {d for j in planned["jobs"] for d in j["destinations"]} == {
        f"{mirror_registry.host}/ns/app", f"{mirror_registry.host}/ns/lib"}


def test_a_full_version_range_plans_the_two_part_tags_masterminds_takes(tmp_path, registry, mirror_registry, seed,
                                                                         unique_repo):
    repo = unique_repo("alpine")
    for i, tag in enumerate(("3.11", "3.12", "v3.12", "3.12.0", "3.13.1", "3.20", "4", "3.12-alpine", "latest",
                             "3.13.0-rc.1")):
        seed(registry, repo, tag, kind="oci", arches=("amd64",), seed=i)
    sync = f"{registry.host}:\n  tls-verify: false\n  images-by-semver:\n    {repo}: '>= 3.12.0'\n"
    converted, manifest = convert(tmp_path, "sync.yml", sync, f"{mirror_registry.host}/ns",
                                  extra=["--insecure-mirror"])
    assert converted.returncode == 0, converted.stderr
    # Masterminds reads 3.12 and v3.12 as 3.12.0 and 4 as 4.0.0, in a range of full versions too; no pre-release
    assert jobs(plan(manifest)) == sorted((f"{registry.host}/{repo}", t)
                                          for t in ("3.12", "v3.12", "3.12.0", "3.13.1", "3.20", "4"))


def test_docker_transport_names_plan_the_images_they_name(tmp_path, registry, mirror_registry, seed, unique_repo):
    app, pinned_repo = unique_repo("app"), unique_repo("pinned")
    seed(registry, app, "1.0", kind="oci", arches=("amd64",))
    pinned = seed(registry, pinned_repo, None, kind="oci", arches=("amd64",), seed=1)
    isc = (ISC + "mirror:\n  additionalImages:\n"
           f"  - name: docker://{registry.host}/{app}:1.0\n"
           f"  - name: docker://{registry.host}/{pinned_repo}@{pinned.digest}\n")
    converted, manifest = convert(tmp_path, "isc.yaml", isc, mirror_registry.host)
    assert converted.returncode == 0, converted.stderr
    plain_http_sources(manifest, registry, mirror_registry)
    planned = {j["source"]: j for j in plan(manifest)["jobs"]}
    assert sorted(planned) == sorted([f"{registry.host}/{app}", f"{registry.host}/{pinned_repo}"])
    assert planned[f"{registry.host}/{app}"]["tag"] == "1.0"
    assert planned[f"{registry.host}/{pinned_repo}"]["digest"] == pinned.digest


def test_several_documents_plan_the_first_only(tmp_path, registry, mirror_registry, seed, unique_repo):
    first, second = unique_repo("first"), unique_repo("second")
    seed(registry, first, "1.0", kind="oci", arches=("amd64",))
    seed(registry, second, "2.0", kind="oci", arches=("amd64",), seed=1)
    isc = (ISC + f"mirror:\n  additionalImages:\n  - name: {registry.host}/{first}:1.0\n"
           "---\n" + ISC + f"mirror:\n  additionalImages:\n  - name: {registry.host}/{second}:2.0\n")
    converted, manifest = convert(tmp_path, "isc.yaml", isc, mirror_registry.host)
    assert converted.returncode == 0, converted.stderr
    assert converted.stderr == (f"warning: {tmp_path}/isc.yaml:6: the YAML documents from this line on are ignored: "
                                "oc-mirror reads the first document only\n")
    plain_http_sources(manifest, registry, mirror_registry)
    assert jobs(plan(manifest)) == [(f"{registry.host}/{first}", "1.0")]


@pytest.fixture
def channel(registry, pusher_for, unique_repo):
    """4.15.0 .. 4.15.3 with the edges 0→1 1→2 2→3 0→2 1→3 (tests/support/releases.py)."""
    return build_channel(pusher_for(registry), unique_repo("rel"))


@pytest.mark.parametrize("bound, versions", [("minVersion: 4.15.1", ["4.15.1", "4.15.3"]),
                                             ("maxVersion: 4.15.2", ["4.15.0", "4.15.2"])])
def test_shortest_path_with_one_bound_plans_the_path_to_the_head_or_from_the_lowest(
        tmp_path, registry, mirror_registry, channel, bound, versions):
    isc = (ISC + "mirror:\n  platform:\n    channels:\n"
           f"    - name: stable-4.15\n      {bound}\n      shortestPath: true\n")
    converted, manifest = convert(tmp_path, "isc.yaml", isc, f"{mirror_registry.host}/p")
    assert converted.returncode == 0, converted.stderr
    plain_http_sources(manifest, registry, mirror_registry)
    with GraphServer({("stable-4.15", "amd64"): channel.graph()}) as server:
        doc = yaml.safe_load(manifest.read_text())
        doc["platform"]["updateService"] = server.url
        manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
        planned = plan(manifest)
    release_images = sorted(j["mirrorTag"] for j in planned["jobs"] if j["source"].endswith(channel.release_repo))
    assert release_images == [f"{v}-x86_64" for v in versions]
    assert {j["digest"] for j in planned["jobs"] if j["source"].endswith(channel.release_repo)} == {
        channel.by_version(v).digest for v in versions}


def test_bad_input_names_the_input_line_and_field_and_writes_nothing(tmp_path, mirror_registry):
    for name, text, expected in (
            ("okd.yaml", ISC + "mirror:\n  platform:\n    channels:\n    - name: okd-scos-4.16\n      type: fcos\n",
             "okd.yaml:7: mirror.platform.channels[0].type: the converted manifest would not load: must be one of "
             "ocp, okd"),
            ("isc.yaml",
             ISC + "mirror:\n  platform:\n    channels:\n    - name: stable-4.16\n      shortestPath: true\n",
             "isc.yaml:7: mirror.platform.channels[0].shortestPath: the converted manifest would not load: needs "
             "minVersion or maxVersion"),
            ("sync.yml", "r.example.net/a:\n  images: {x/app: [v1]}\nr.example.net/b:\n  images: {app: [v1]}\n",
             "sync.yml:4: r.example.net/b.images.app: the converted manifest would not load: ")):
        converted, manifest = convert(tmp_path, name, text, mirror_registry.host)
        assert converted.returncode == 2 and not manifest.exists() and converted.stdout == ""
        assert converted.stderr.startswith(f"error: {tmp_path}/{expected}"), converted.stderr
        assert converted.stderr.count("\n") == 1 and "<converted>" not in converted.stderr


def test_a_namespaced_skopeo_file_mirrors_what_the_real_skopeo_sync_copies(tmp_path, registry, mirror_registry, seed,
                                                                           unique_repo, skopeo):
    namespace = unique_repo("group")
    for repo, tags in (("tools/kubectl", ("v1.30.1", "v1.30.2")), ("builder", ("a", "b"))):
        for i, tag in enumerate(tags):
            seed(registry, f"{namespace}/{repo}", tag, kind="oci", arches=("amd64",), seed=i)
    sync = tmp_path / "sync.yml"
    sync.write_text(f"{registry.host}/{namespace}:\n  tls-verify: false\n  images:\n    tools/kubectl: [v1.30.2]\n"
                    "    builder: []\n")
    skopeo.run("sync", "--policy", str(skopeo.policy), "--all", "--src", "yaml", "--dest", "docker",
               "--dest-tls-verify=false", str(sync), f"{mirror_registry.host}/{namespace}-sk", timeout=300)
    converted = mirrorsync("convert", str(sync), "--output", str(tmp_path / "m.yaml"), "--insecure-mirror",
                           "--mirror", f"{mirror_registry.host}/{namespace}-ms")
    assert converted.returncode == 0, converted.stderr
    run = mirrorsync("run", str(tmp_path / "m.yaml"), "--output-dir", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr

    def tags(where: str) -> list[str]:
        listed = skopeo.run("list-tags", "--tls-verify=false", f"docker://{mirror_registry.host}/{where}")
        return sorted(json.loads(listed.stdout)["Tags"])

    for repo, expected in (("kubectl", ["v1.30.2"]), ("builder", ["a", "b"])):
        assert tags(f"{namespace}-sk/{repo}") == expected, repo  # where and what skopeo sync put
        assert tags(f"{namespace}-ms/{repo}") == expected, repo
