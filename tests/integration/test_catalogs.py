"""Operator catalogs end to end against the real registry: a multi-arch catalog image with a pre-built cache is
filtered, its bundles and related images are mirrored by digest, the rebuilt catalog is pushed; umoci (which
shares no code with mirrorsync) unpacks the rebuilt image and the FBC is read from the unpacked root."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import httpx
import pytest
import yaml

from devtools.openshift import push_catalog
from support.catalogs import catalog_files, push_related_images
from support.cli import mirrorsync, registry_settings, write_manifest
from support.skopeo import unpack_with_umoci

pytestmark = pytest.mark.integration

TARGET = "olm/filtered-index"

FILTER = [
    {"name": "alpha", "channels": [{"name": "stable", "minVersion": "1.1.0", "maxVersion": "1.2.0"}]},
    {"name": "beta"},
]


@pytest.fixture
def source(make_registry, pusher_for):
    """A source registry of the test's own (stopped to prove pulls go to the mirror) holding the sample catalog,
    multi-arch, and every image it names."""
    registry = make_registry("catalog-source")
    pusher = pusher_for(registry)
    images = push_related_images(pusher, "ops", "other")
    digest, platforms = push_catalog(pusher, "olm/index", "v4.15", catalog_files(lambda n: images[n]),
                                     arches=("amd64", "arm64"))
    registry.catalog = {"images": images, "digest": digest, "platforms": platforms}
    return registry


def manifest_for(tmp_path: Path, source, mirror, packages=FILTER, namespaces=("mirror",), **extra) -> Path:
    operators = [{"catalog": f"{source.host}/olm/index:v4.15", "packages": packages, "targetCatalog": TARGET,
                  "targetTag": "v1", **extra}]
    return write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror.host}/{n}" for n in namespaces], images=[],
                          registries={r.host: registry_settings(r) for r in (source, mirror)}, operators=operators)


def fbc_of(rootfs: Path) -> dict[str, list[dict]]:
    """package -> documents, read from an unpacked image's /configs with plain json (not mirrorsync's parser)."""
    out = {}
    for path in sorted((rootfs / "configs").glob("*/*")):
        if path.suffix == ".yaml":
            out[path.parent.name] = list(yaml.safe_load_all(path.read_text()))
            continue
        text, docs, decoder, pos = path.read_text(), [], json.JSONDecoder(), 0
        while pos < len(text.rstrip()):
            doc, pos = decoder.raw_decode(text, pos)
            docs.append(doc)
            while pos < len(text) and text[pos].isspace():
                pos += 1
        out[path.parent.name] = docs
    return out


def heads(docs: list[dict]) -> dict[str, list[str]]:
    out = {}
    for ch in (d for d in docs if d["schema"] == "olm.channel"):
        pointed = {e.get("replaces") for e in ch["entries"]} | {s for e in ch["entries"] for s in e.get("skips", [])}
        out[ch["name"]] = [e["name"] for e in ch["entries"] if e["name"] not in pointed]
    return out


def on_mirror(mirror, repository: str, digest: str) -> bool:
    response = httpx.head(f"{mirror.url}/v2/{repository}/manifests/{digest}", headers={"Accept": ", ".join([
        "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"])})
    return response.status_code == 200


def test_filtered_catalog_rebuilt_bundles_mirrored_pull_through_mirror_sets(tmp_path, source, make_registry,
                                                                           skopeo):
    assert shutil.which("umoci"), "umoci not installed: run scripts/setup"
    mirror = make_registry("catalog-mirror")
    manifest = manifest_for(tmp_path, source, mirror)
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    [entry] = report["catalogs"]
    assert entry["sourceDigest"] == source.catalog["digest"]
    kept = {b["name"] for b in entry["bundles"]}
    assert kept == {"alpha.v1.1.0", "alpha.v1.1.1", "alpha.v1.2.0", "beta.v1.0.0", "beta.v2.1.0"}
    [m] = entry["mirrors"]
    assert m["status"] == "pushed" and m["reference"] == f"{mirror.host}/mirror/{TARGET}:v1"
    assert (f"catalog {source.host}/olm/index:v4.15: 5 bundles kept, 0 left out (see the report); "
            f"{m['reference']}@{m['digest']}") in proc.stderr.splitlines()

    # the rebuilt catalog, as umoci unpacks it: only what the filter keeps, one head per channel, no old cache
    tag_ref = f"{mirror.host}/mirror/{TARGET}:v1"
    bundle = unpack_with_umoci(skopeo, tag_ref, tmp_path, name="rebuilt")
    rootfs = bundle / "rootfs"
    catalog = fbc_of(rootfs)
    assert sorted(catalog) == ["alpha", "beta"]
    assert {d["name"] for docs in catalog.values() for d in docs if d["schema"] == "olm.bundle"} == kept
    for package, docs in catalog.items():
        assert all(len(h) == 1 for h in heads(docs).values()), (package, heads(docs))
    assert heads(catalog["alpha"]) == {"stable": ["alpha.v1.2.0"]}
    assert [d for d in catalog["alpha"] if d["schema"] == "example.com.custom"]  # unknown schema kept
    assert not (rootfs / "tmp" / "cache").exists()
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777  # opm, not root, must write its cache there
    original = unpack_with_umoci(skopeo, f"{source.host}/olm/index:v4.15", tmp_path, name="original") / "rootfs"
    assert (original / "tmp" / "cache" / "digest").exists() and len(fbc_of(original)) == 4
    assert (rootfs / "bin" / "opm").read_text() == "opm for linux/amd64"
    # every image the kept bundles name is on the mirror at its digest, at its own path
    needed = {d["image"] for docs in catalog.values() for d in docs if d["schema"] == "olm.bundle"}
    needed |= {r["image"] for docs in catalog.values() for d in docs if d["schema"] == "olm.bundle"
               for r in d["relatedImages"]}
    assert len(needed) == 5 + 2 * 3  # five bundles; alpha's three also run an operand and an agent
    for ref in needed:
        repo, digest = ref.split("/", 1)[1].split("@")
        assert on_mirror(mirror, f"mirror/{repo}", digest), ref
    args = json.loads((bundle / "config.json").read_text())["process"]["args"]
    assert args == ["/bin/opm", "serve", "/configs", "--cache-dir=/tmp/cache", "--cache-enforce-integrity=false"]
    # the other platform of the multi-arch catalog got the same configs
    arm = unpack_with_umoci(skopeo, tag_ref, tmp_path, "arm64", name="rebuilt")
    assert fbc_of(arm / "rootfs") == catalog
    assert (arm / "rootfs" / "bin" / "opm").read_text() == "opm for linux/arm64"

    # CatalogSource and ClusterCatalog name the rebuilt catalog by digest; the Kustomization lists them
    crs = out / "cluster-resources"
    catalog_digest = skopeo.inspect_digest(tag_ref, tls_verify=False)
    assert m["digest"] == catalog_digest
    [cs] = yaml.safe_load_all((crs / "catalogsource.yaml").read_text())
    assert cs["spec"] == {"sourceType": "grpc", "image": f"{mirror.host}/mirror/{TARGET}@{catalog_digest}",
                          "displayName": f"{source.host}/olm/index:v4.15", "publisher": "mirrorsync"}
    assert cs["metadata"]["namespace"] == "openshift-marketplace"
    [cc] = yaml.safe_load_all((crs / "clustercatalog.yaml").read_text())
    assert cc["apiVersion"] == "olm.operatorframework.io/v1"
    assert cc["spec"]["source"]["image"]["ref"] == cs["spec"]["image"]
    assert "catalogsource.yaml" in (crs / "Kustomization").read_text()
    idms_sources = {e["source"] for e in yaml.safe_load((crs / "imagedigestmirrorset.yaml").read_text())["spec"]
                    ["imageDigestMirrors"]}
    assert f"{source.host}/other/tools/alpha-agent" in idms_sources
    assert f"{source.host}/ops/alpha-operand" in idms_sources
    assert not any("olm/index" in s for s in idms_sources)  # the CatalogSource names the mirror itself

    # generate gives the same catalog objects from the report alone; verify finds everything it promises
    regenerated = mirrorsync("generate", str(out / "report.json"), "-o", str(tmp_path / "again"))
    assert regenerated.returncode == 0, regenerated.stderr
    for name in ("catalogsource.yaml", "clustercatalog.yaml", "Kustomization", "imagedigestmirrorset.yaml"):
        assert (tmp_path / "again" / "cluster-resources" / name).read_bytes() == (crs / name).read_bytes()
    verified = mirrorsync("verify", str(out))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK: 13 image(s) on mirrors checked" in verified.stderr  # and the rebuilt catalog
    from_manifest = mirrorsync("verify", str(manifest))  # digests from the source, catalogs read and filtered
    assert from_manifest.returncode == 0, from_manifest.stdout + from_manifest.stderr
    assert "OK: 12 image(s) on mirrors checked" in from_manifest.stderr  # the catalog, 5 bundles, 6 operands

    # a second run copies nothing and pushes no new catalog
    again = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert again.returncode == 0, again.stderr
    report2 = json.loads((out / "report.json").read_text())
    assert report2["totals"]["copied"] == 0 and report2["totals"]["bytesSent"] == 0
    assert report2["catalogs"][0]["mirrors"][0]["status"] == "up-to-date"
    assert report2["catalogs"][0]["mirrors"][0]["digest"] == catalog_digest

    # a node pulls a related image by its original name through the mirror sets, with the source stopped
    conf = tmp_path / "registries.conf"
    rendered = mirrorsync("registries-conf", str(out), "--insecure", mirror.host, "--output", str(conf))
    assert rendered.returncode == 0, rendered.stderr
    source.stop()
    agent = source.catalog["images"]["tools/alpha-agent:1.2.0"]
    raw = skopeo.run("--registries-conf", str(conf), "inspect", "--raw", f"docker://{agent}").stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == agent.split("@")[1]

    # a run that cannot read the catalog (source down) takes nothing away: the same CR bytes, exit 1
    before = {p.name: p.read_bytes() for p in crs.iterdir()}
    down = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert down.returncode == 1, down.stderr
    assert {p.name: p.read_bytes() for p in crs.iterdir()} == before
    [kept_entry] = json.loads((out / "report.json").read_text())["catalogs"]
    assert kept_entry["error"].startswith(f"catalog {source.host}/olm/index:v4.15: ")
    assert kept_entry["mirrors"][0]["digest"] == catalog_digest
    assert "kept from the previous report" in kept_entry["mirrors"][0]["error"]


def test_filtered_out_default_channel_is_one_line_exit_2_nothing_written(tmp_path, source, mirror_registry):
    manifest = manifest_for(tmp_path, source, mirror_registry,
                            packages=[{"name": "beta", "channels": [{"name": "release-1"}]}])
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {manifest}:")
    assert "operators[0].packages[0]: the default channel 'release-2' of package 'beta' is filtered out" in line
    assert not (out / "report.json").exists() and not (out / "cluster-resources").exists()


def test_a_bundle_whose_image_fails_is_left_out_of_the_catalog(tmp_path, make_registry, pusher_for, mirror_registry,
                                                               skopeo):
    registry = make_registry("catalog-broken")
    pusher = pusher_for(registry)
    images = push_related_images(pusher, "ops", "other")
    gone = f"{registry.host}/ops/alpha-operand@sha256:" + "0" * 64  # named by the catalog, in no registry
    images["alpha-operand:1.2.0"] = gone
    push_catalog(pusher, "olm/index", "v4.15", catalog_files(lambda n: images[n]))
    manifest = manifest_for(tmp_path, registry, mirror_registry, packages=FILTER[:1])
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 1, proc.stderr
    [entry] = json.loads((out / "report.json").read_text())["catalogs"]
    assert {b["name"] for b in entry["bundles"]} == {"alpha.v1.1.0", "alpha.v1.1.1"}
    [left] = entry["leftOut"]
    assert left["bundle"] == "alpha.v1.2.0" and left["reason"].startswith(f"{gone} is not on every mirror")
    rootfs = unpack_with_umoci(skopeo, entry["mirrors"][0]["reference"], tmp_path, name="rebuilt") / "rootfs"
    assert heads(fbc_of(rootfs)["alpha"]) == {"stable": ["alpha.v1.1.1"]}


def test_catalog_list_and_plan_say_what_a_filter_keeps(tmp_path, source, make_registry):
    mirror = make_registry("catalog-plan-mirror")
    ref = f"{source.host}/olm/index:v4.15"
    listed = mirrorsync("catalog", "list", ref, "--insecure")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == f"{source.host}/olm/index@{source.catalog['digest']}"
    assert "alpha (default channel stable)" in lines
    assert "  stable (default): head alpha.v1.2.0; 4 bundles, versions 1.0.0 .. 1.2.0" in lines
    assert "  fast: head alpha.v1.3.0; 2 bundles, versions 1.2.0 .. 1.3.0" in lines
    one = mirrorsync("catalog", "list", ref, "--insecure", "--package", "alpha").stdout.splitlines()
    assert "    alpha.v1.2.0 1.2.0  (replaces alpha.v1.1.0; skips alpha.v1.1.1; skipRange >=1.0.0 <1.2.0)" in one
    assert not any(line.startswith("beta") for line in one)
    missing = mirrorsync("catalog", "list", ref, "--insecure", "--package", "nope")
    assert missing.returncode == 2 and missing.stderr.strip() == \
        "error: --package: package 'nope' is not in the catalog"
    # an image that is no catalog (an operand image: no FBC under /configs) is one error line, exit 1, no listing
    bundle = source.catalog["images"]["alpha-operand:1.0.0"]
    not_catalog = mirrorsync("catalog", "list", bundle, "--insecure")
    assert not_catalog.returncode == 1 and not_catalog.stdout == ""
    assert not_catalog.stderr.count("\n") == 1
    assert "is not an operator catalog: no file-based catalog packages under its " \
           "operators.operatorframework.io.index.configs.v1 label's directory (default /configs)" in not_catalog.stderr

    manifest = manifest_for(tmp_path, source, mirror, resolveDependencies=True)
    planned = mirrorsync("plan", str(manifest))
    assert planned.returncode == 0, planned.stderr
    out = planned.stdout.splitlines()
    assert f"catalog {ref}@{source.catalog['digest']}: 7 bundles kept" in out
    assert ("  keep alpha alpha.v1.1.1 (1.1.1): in 1.1.0..1.2.0, skipped or replaced by alpha.v1.2.0 in channel "
            "stable") in out
    assert "  add package gamma: olm.package.required >=0.1.0 of bundle beta.v2.1.0" in out
    as_json = json.loads(mirrorsync("plan", str(manifest), "--output", "json").stdout)
    [cat] = as_json["catalogs"]
    assert cat["digest"] == source.catalog["digest"] and len(cat["bundles"]) == 7
    assert cat["dependenciesAdded"][1] == {"package": "delta", "reason": "olm.gvk.required delta.example.com/v1 "
                                                                         "Delta of bundle beta.v2.1.0"}
    assert {j["source"] for j in as_json["jobs"]} >= {f"{source.host}/ops/bundles/gamma-bundle",
                                                      f"{source.host}/other/tools/alpha-agent"}
    # a plan copies nothing
    assert httpx.get(f"{mirror.url}/v2/_catalog").json()["repositories"] == []


def test_export_and_import_carry_the_catalog_its_bundles_and_related_images(tmp_path, source, make_registry):
    mirror = make_registry("catalog-airgap-mirror")
    manifest = manifest_for(tmp_path, source, mirror, packages=FILTER[:1])
    export_dir = tmp_path / "export"
    exported = mirrorsync("export", str(manifest), "--to", str(export_dir))
    assert exported.returncode == 0, exported.stderr
    source.stop()  # the disconnected side never reaches the source
    out = tmp_path / "out"
    imported = mirrorsync("import", str(export_dir), "--output-dir", str(out))
    assert imported.returncode == 0, imported.stderr
    [entry] = json.loads((out / "report.json").read_text())["catalogs"]
    assert {b["name"] for b in entry["bundles"]} == {"alpha.v1.1.0", "alpha.v1.1.1", "alpha.v1.2.0"}
    [m] = entry["mirrors"]
    assert m["status"] == "pushed"
    for b in entry["bundles"]:
        repo, digest = b["image"].split("/", 1)[1].split("@")
        assert on_mirror(mirror, f"mirror/{repo}", digest)
    agent = source.catalog["images"]["tools/alpha-agent:1.1.1"]
    repo, digest = agent.split("/", 1)[1].split("@")
    assert on_mirror(mirror, f"mirror/{repo}", digest)
    assert on_mirror(mirror, f"mirror/{TARGET}", m["digest"])
    [cs] = yaml.safe_load_all((out / "cluster-resources" / "catalogsource.yaml").read_text())
    assert cs["spec"]["image"] == f"{mirror.host}/mirror/{TARGET}@{m['digest']}"


def test_the_skopeo_engine_copies_bundles_and_the_native_client_rebuilds_for_every_mirror(tmp_path, source,
                                                                                         make_registry):
    mirror = make_registry("catalog-skopeo-mirror")
    manifest = manifest_for(tmp_path, source, mirror, packages=[{"name": "gamma"}], namespaces=("mirror", "second"))
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out), "--engine", "skopeo")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["engine"] == "skopeo"
    [entry] = report["catalogs"]
    assert [b["name"] for b in entry["bundles"]] == ["gamma.v0.1.0"]
    first, second = entry["mirrors"]
    assert first["status"] == second["status"] == "pushed" and first["digest"] == second["digest"]
    repo, digest = entry["bundles"][0]["image"].split("/", 1)[1].split("@")
    for namespace in ("mirror", "second"):
        assert on_mirror(mirror, f"{namespace}/{repo}", digest)
        assert on_mirror(mirror, f"{namespace}/{TARGET}", first["digest"])
    # the CatalogSource names the first mirror, the one nodes try first
    [cs] = yaml.safe_load_all((out / "cluster-resources" / "catalogsource.yaml").read_text())
    assert cs["spec"]["image"] == f"{mirror.host}/mirror/{TARGET}@{first['digest']}"
