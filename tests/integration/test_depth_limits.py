"""Depth-limited mirrors (``registries.<host>.maxNestedPaths``) against the real registry, both engines, the real
skopeo as the node: 4-level source paths land on 2-level repositories, the rendered registries.conf sends every
copied reference there, and a pull by the original name succeeds with the source stopped. A collision is exit 2
before anything is copied."""

from __future__ import annotations

import hashlib
import json

import pytest

from support.cli import mirrorsync, registry_settings, write_manifest
from support.skopeo import SkopeoError

pytestmark = pytest.mark.integration


def flat(path: str) -> str:
    """``depth/t/x-1/a/b`` on a host limited to 2 components: ``depth/t-x-1-a-b``."""
    first, _, rest = path.partition("/")
    return f"{first}/{rest.replace('/', '-')}"


@pytest.mark.parametrize("engine", ["native", "skopeo"])
def test_four_level_sources_mirror_to_two_level_repositories_and_pull_by_their_own_names(
        tmp_path, make_registry, mirror_registry, seed, unique_repo, skopeo, skopeo_opts, engine):
    source = make_registry("source")
    base = unique_repo(engine)  # t/<test>-N: two components
    repos = [f"{base}/api/v1", f"{base}/web/v1", base]
    images = [seed(source, repo, "v1", seed=n) for n, repo in enumerate(repos)]
    manifest, out, report = run_v1(tmp_path, engine, source, mirror_registry, [f"{mirror_registry.host}/depth"],
                                   repos, maxNestedPaths=2)
    by_source = {img["source"]: img for img in report["images"]}
    for repo, img in zip(repos, images):
        (dest,) = by_source[f"{source.host}/{repo}"]["destinations"]
        assert dest["repository"] == f"{mirror_registry.host}/{flat('depth/' + repo)}"
        assert dest["repository"].count("/") == 2  # host/namespace/repository: two components below the host
        assert dest["flattenedFrom"] == f"{mirror_registry.host}/depth/{repo}"
        # the mirror holds it there, and not at the deep path
        assert skopeo.inspect_digest(f"{dest['repository']}:v1", **skopeo_opts(mirror_registry)) == img.digest
        with pytest.raises(SkopeoError):
            skopeo.inspect_digest(f"{dest['flattenedFrom']}:v1", **skopeo_opts(mirror_registry))

    # a dry-run prune with the same manifest finds nothing to take away from the flattened repositories
    pruned = mirrorsync("prune", str(manifest), "--output-dir", str(out), "--output", "json")
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["removals"] == []

    pull_by_original_names(tmp_path, skopeo, out, mirror_registry, source, zip(repos, images),
                           lambda repo: flat("depth/" + repo))


def run_v1(tmp_path, engine: str, source, mirror_registry, mirrors: list, repos: list[str], **mirror_settings):
    """``run`` of a manifest taking tag v1 of each of ``repos`` from ``source``; (manifest, output dir, report)."""
    settings = {source.host: registry_settings(source),
                mirror_registry.host: {**registry_settings(mirror_registry), **mirror_settings}}
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=mirrors, registries=settings,
                              images=[{"source": f"{source.host}/{r}", "tags": ["v1"]} for r in repos],
                              options={"engine": engine})
    out = tmp_path / "out"
    run = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert run.returncode == 0, run.stderr
    return manifest, out, json.loads((out / "report.json").read_text())


def pull_by_original_names(tmp_path, skopeo, out, mirror_registry, source, pushed, where) -> None:
    """With the source stopped: the registries.conf rendered from ``out`` sends every copied reference, by digest
    and by tag, first to ``where(repo)`` on the mirror, and skopeo pulls it by its original name from there."""
    conf = tmp_path / "registries.conf"
    rendered = mirrorsync("registries-conf", str(out), "--insecure", mirror_registry.host, "-o", str(conf))
    assert rendered.returncode == 0, rendered.stderr
    source.stop()
    for n, (repo, img) in enumerate(pushed):
        for suffix in (f"@{img.digest}", ":v1"):
            original = f"{source.host}/{repo}{suffix}"
            resolved = mirrorsync("resolve", original, "--registries-conf", str(conf), "--output", "json")
            assert resolved.returncode == 0, resolved.stderr
            first = json.loads(resolved.stdout)["sources"][0]
            assert (first["reference"], first["mirror"]) == (f"{mirror_registry.host}/{where(repo)}{suffix}", True)
            # a node pulls it by its own name, manifest and blobs, from the mirror's repository alone
            pulled = tmp_path / f"pull-{n}-{suffix[0] == '@'}"
            skopeo.run("--registries-conf", str(conf), "copy", "--policy", str(skopeo.policy), "--all",
                       f"docker://{original}", f"dir:{pulled}")
            assert (pulled / "manifest.json").is_file()
            raw = skopeo.run("--registries-conf", str(conf), "inspect", "--raw", f"docker://{original}").stdout
            assert "sha256:" + hashlib.sha256(raw).hexdigest() == img.digest


@pytest.mark.parametrize("engine", ["native", "skopeo"])
def test_a_mirror_path_template_lays_out_every_repository_and_pulls_by_original_names(
        tmp_path, make_registry, mirror_registry, seed, unique_repo, skopeo, skopeo_opts, engine):
    source = make_registry("source")
    base = unique_repo(engine)
    repos = [f"{base}/api/v1", base]
    images = [seed(source, repo, "v1", seed=n) for n, repo in enumerate(repos)]

    def where(repo: str) -> str:  # path 'm-{repo}/{namespace}' under proj
        namespace, _, last = repo.rpartition("/")
        return f"proj/m-{last}/{namespace}"

    _, out, report = run_v1(tmp_path, engine, source, mirror_registry,
                            [{"location": f"{mirror_registry.host}/proj", "path": "m-{repo}/{namespace}"}], repos)
    for repo, img in zip(repos, images):
        (dest,) = next(i for i in report["images"] if i["source"] == f"{source.host}/{repo}")["destinations"]
        assert (dest["repository"], dest["flattenedFrom"]) == (f"{mirror_registry.host}/{where(repo)}",
                                                               f"{mirror_registry.host}/proj/{repo}")
        assert skopeo.inspect_digest(f"{dest['repository']}:v1", **skopeo_opts(mirror_registry)) == img.digest
    pull_by_original_names(tmp_path, skopeo, out, mirror_registry, source, zip(repos, images), where)


def test_two_sources_flattened_onto_one_repository_are_exit_2_before_anything_is_copied(
        tmp_path, registry, mirror_registry, seed, unique_repo, skopeo, skopeo_opts):
    base = unique_repo("collide")
    a, b = f"{base}/a/b", f"{base}/a-b"  # both t-<test>-N-a-b once flattened to 2
    for n, repo in enumerate((a, b)):
        seed(registry, repo, "v1", seed=n)
    settings = {registry.host: registry_settings(registry), mirror_registry.host: registry_settings(mirror_registry)}
    images = [{"source": f"{registry.host}/{r}", "tags": ["v1"]} for r in (a, b)]
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[mirror_registry.host], registries=settings, images=images)
    out = tmp_path / "out"
    for command in (["run", str(manifest), "--output-dir", str(out)], ["plan", str(manifest)]):
        proc = mirrorsync(*command, "--max-nested-paths", "2")
        assert proc.returncode == 2, proc.stderr
        assert f"{registry.host}/{b} and images[0] ({registry.host}/{a}) both land on " \
               f"{mirror_registry.host}/{flat(a)} with --max-nested-paths 2" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not (out / "report.json").exists()
    with pytest.raises(SkopeoError):
        skopeo.inspect_digest(f"{mirror_registry.host}/{flat(a)}:v1", **skopeo_opts(mirror_registry))
    # the same from the manifest's own setting, at its line
    settings[mirror_registry.host]["maxNestedPaths"] = 2
    write_manifest(manifest, mirrors=[mirror_registry.host], registries=settings, images=images)
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "m.yaml:" in proc.stderr and "images[1].source" in proc.stderr
    assert f"registries.{mirror_registry.host}.maxNestedPaths: 2" in proc.stderr
    # deep enough, both are copied, each to its own repository
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out), "--max-nested-paths", "4")
    assert proc.returncode == 0, proc.stderr


def test_the_flag_reaches_plan_verify_and_import_across_an_air_gap(tmp_path, make_registry, mirror_registry, seed,
                                                                   unique_repo, skopeo, skopeo_opts):
    source = make_registry("source")
    repo = f"{unique_repo('gap')}/deep"  # t/<test>-N/deep: three components, four with the mirror's namespace
    img = seed(source, repo, "v1", kind="oci")
    settings = {r.host: registry_settings(r) for r in (source, mirror_registry)}
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/gap"], registries=settings,
                              images=[{"source": f"{source.host}/{repo}", "tags": ["v1"]}])
    want = f"{mirror_registry.host}/{flat('gap/' + repo)}"
    planned = mirrorsync("plan", str(manifest), "--output", "json", "--max-nested-paths", "2")
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["jobs"][0]["destinations"] == [want]
    # the export layout keeps the source's names; the import flattens onto the mirror
    export_dir = tmp_path / "export"
    exported = mirrorsync("export", str(manifest), "--to", str(export_dir))
    assert exported.returncode == 0, exported.stderr
    out = tmp_path / "out"
    imported = mirrorsync("import", str(export_dir), "--output-dir", str(out), "--max-nested-paths", "2")
    assert imported.returncode == 0, imported.stderr
    (dest,) = json.loads((out / "report.json").read_text())["images"][0]["destinations"]
    assert (dest["repository"], dest["flattenedFrom"]) == (want, f"{mirror_registry.host}/gap/{repo}")
    assert skopeo.inspect_digest(f"{want}:v1", **skopeo_opts(mirror_registry)) == img.digest
    assert mirrorsync("verify", str(out)).returncode == 0  # by the report
    # by the manifest: with the flag it checks the flattened repository; without, the deep one, which is empty
    verified = mirrorsync("verify", str(manifest), "--max-nested-paths", "2")
    assert verified.returncode == 0, verified.stderr
    unflattened = mirrorsync("verify", str(manifest))
    assert unflattened.returncode == 1 and f"{mirror_registry.host}/gap/{repo}" in unflattened.stdout, \
        unflattened.stdout + unflattened.stderr


def test_a_release_and_its_components_are_flattened_too(tmp_path, registry, mirror_registry, pusher_for, unique_repo,
                                                        closed_port):
    from support.releases import build_multi_release  # noqa: PLC0415 - only this test builds a release

    multi = build_multi_release(pusher_for(registry), unique_repo("rel"))
    ns = unique_repo("m")  # t/<test>-N: with openshift/release under it, four components
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror_registry.host}/{ns}"], images=[],
                              registries={registry.host: registry_settings(registry),
                                          mirror_registry.host: {**registry_settings(mirror_registry),
                                                                 "maxNestedPaths": 2}},
                              platform={"releases": [f"{multi.repository}:{multi.tag}"],
                                        "updateService": f"http://127.0.0.1:{closed_port}/graph"})
    manifest.write_text(manifest.read_text().replace("images: []\n", ""))  # a platform section alone
    out = tmp_path / "out"
    run = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "report.json").read_text())
    repos = {d["repository"] for i in report["images"] for d in i["destinations"]}
    assert repos == {f"{mirror_registry.host}/{flat(f'{ns}/openshift/release')}",
                     f"{mirror_registry.host}/{flat(f'{ns}/openshift/release-images')}"}, repos
    assert all(d["flattenedFrom"].startswith(f"{mirror_registry.host}/{ns}/openshift/")
               for i in report["images"] for d in i["destinations"])
    conf = tmp_path / "registries.conf"
    assert mirrorsync("registries-conf", str(out), "--insecure", mirror_registry.host, "-o", str(conf)).returncode == 0
    for image in report["images"]:
        ref = f"{image['source']}@{image['digest']}"
        resolved = mirrorsync("resolve", ref, "--registries-conf", str(conf), "--output", "json")
        assert resolved.returncode == 0, resolved.stderr
        first = json.loads(resolved.stdout)["sources"][0]["reference"]
        assert first == f"{image['destinations'][0]['repository']}@{image['digest']}"
