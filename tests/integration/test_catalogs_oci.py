"""Operator catalogs in an OCI layout on disk (``operators[].catalog: oci:///path``, issue 36 item 3) against the
real registry: one layout written by the test as ``skopeo copy --all … oci:DIR:TAG`` writes it, one written by the
real skopeo from a registry the manifest never names, both filtered, rebuilt and pushed to the mirror under the
names oc-mirror v2 gives them, their bundles and related images mirrored, the CatalogSources naming the rebuilt
catalogs; a bad layout is one line naming its file and field, exit 2, nothing written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
import yaml

from devtools.openshift import push_catalog
from support.catalogs import LayoutWriter, catalog_files, catalog_layout, push_related_images
from support.cli import mirrorsync, registry_settings, write_manifest

pytestmark = pytest.mark.integration

FILTER = [
    {"name": "alpha", "channels": [{"name": "stable", "minVersion": "1.1.0", "maxVersion": "1.2.0"}]},
    {"name": "beta"},
]
KEPT = {"alpha.v1.1.0", "alpha.v1.1.1", "alpha.v1.2.0", "beta.v1.0.0", "beta.v2.1.0"}
ACCEPT = ", ".join(["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"])


def on_mirror(mirror, repository: str, ref: str) -> str | None:
    """The digest the mirror serves for ``repository`` at a tag or digest, or None."""
    response = httpx.head(f"{mirror.url}/v2/{repository}/manifests/{ref}", headers={"Accept": ACCEPT})
    return response.headers.get("Docker-Content-Digest") if response.status_code == 200 else None


@pytest.fixture
def source(make_registry, pusher_for):
    """The registry of the bundle and related images the sample catalog names (not of the catalog itself)."""
    registry = make_registry("oci-catalog-source")
    registry.images = push_related_images(pusher_for(registry), "ops", "other")
    return registry


def test_catalogs_from_oci_layouts_filtered_rebuilt_pushed_under_oc_mirrors_names(tmp_path, source, make_registry,
                                                                                   pusher_for, skopeo):
    mirror = make_registry("oci-catalog-mirror")
    # a layout as skopeo writes one, next to the manifest, named by a relative oci://./ path
    layouts = tmp_path / "work" / "layouts"
    written_digest = catalog_layout(layouts / "my-index", lambda n: source.images[n], arches=("amd64", "arm64"))
    # and one the real skopeo wrote, from a registry that is stopped before the run (nothing can read it there)
    holder = make_registry("oci-catalog-holder")
    pushed_digest, _ = push_catalog(pusher_for(holder), "olm/index", "v4.15",
                                    catalog_files(lambda n: source.images[n]))
    by_skopeo = tmp_path / "elsewhere" / "skopeo-index"
    by_skopeo.parent.mkdir()
    skopeo.run("copy", "--all", "--preserve-digests", "--policy", str(skopeo.policy), "--src-tls-verify=false",
               f"docker://{holder.host}/olm/index:v4.15", f"oci:{by_skopeo}:v4.15")
    holder.stop()
    manifest = write_manifest(
        tmp_path / "work" / "m.yaml", mirrors=[f"{mirror.host}/mirror"], images=[],
        registries={r.host: registry_settings(r) for r in (source, mirror)},
        operators=[{"catalog": "oci://./layouts/my-index", "packages": FILTER},
                   {"catalog": f"oci://{by_skopeo}", "packages": [{"name": "gamma"}],
                    "targetCatalog": "olm/from-skopeo", "targetTag": "v2"}])
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    first, second = report["catalogs"]

    # oc-mirror's names: the layout directory's base name and "latest"; targetCatalog and targetTag where given
    assert first["catalog"] == f"oci://{layouts / 'my-index'}" and first["sourceDigest"] == written_digest
    assert {b["name"] for b in first["bundles"]} == KEPT
    [m1] = first["mirrors"]
    assert m1["status"] == "pushed" and m1["reference"] == f"{mirror.host}/mirror/my-index:latest"
    assert second["catalog"] == f"oci://{by_skopeo}" and second["sourceDigest"] == pushed_digest
    [m2] = second["mirrors"]
    assert m2["status"] == "pushed" and m2["reference"] == f"{mirror.host}/mirror/olm/from-skopeo:v2"
    assert {b["name"] for b in second["bundles"]} == {"gamma.v0.1.0"}

    # the rebuilt catalogs are on the mirror under those tags, over the originals (copied there by digest)
    assert on_mirror(mirror, "mirror/my-index", "latest") == m1["digest"] != written_digest
    assert on_mirror(mirror, "mirror/my-index", written_digest) == written_digest
    assert on_mirror(mirror, "mirror/olm/from-skopeo", "v2") == m2["digest"]
    # every image the kept bundles name is on the mirror at its digest, at its own path
    assert len(first["images"]) == 5 + 2 * 3 and len(second["images"]) == 1
    for ref in first["images"] + second["images"]:
        repo, digest = ref.split("/", 1)[1].split("@")
        assert on_mirror(mirror, f"mirror/{repo}", digest) == digest, ref

    # the rebuilt catalog holds only what the filter keeps, as a reader of the mirror sees it
    listed = mirrorsync("catalog", "list", m1["reference"], "--insecure")
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert header == f"{mirror.host}/mirror/my-index@{m1['digest']}"
    assert [line.split()[0] for line in lines if not line.startswith(" ")] == ["alpha", "beta"]
    original = mirrorsync("catalog", "list", f"oci://{layouts / 'my-index'}")
    assert original.returncode == 0, original.stderr
    header, *lines = original.stdout.splitlines()
    assert header == f"oci://{layouts / 'my-index'}@{written_digest}"
    assert [line.split()[0] for line in lines if not line.startswith(" ")] == ["alpha", "beta", "delta", "gamma"]

    # the CatalogSources name the rebuilt catalogs by digest on the mirror
    sources = list(yaml.safe_load_all((out / "cluster-resources" / "catalogsource.yaml").read_text()))
    assert sorted(cs["spec"]["image"] for cs in sources) == sorted([
        f"{mirror.host}/mirror/my-index@{m1['digest']}", f"{mirror.host}/mirror/olm/from-skopeo@{m2['digest']}"])
    # the placeholder name the catalogs carry in the plan is in no cluster resource
    for path in (out / "cluster-resources").iterdir():
        assert "oci-layout.invalid" not in path.read_text(), path.name

    # a second run finds everything there
    again = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert again.returncode == 0, again.stderr
    report2 = json.loads((out / "report.json").read_text())
    assert report2["totals"]["copied"] == 0
    assert [m["status"] for c in report2["catalogs"] for m in c["mirrors"]] == ["up-to-date", "up-to-date"]


def _entry(layout: Path) -> dict:
    return json.loads((layout / "index.json").read_text())["manifests"][0]


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def _set_index(layout: Path, **changes) -> None:
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0].update(changes)
    (layout / "index.json").write_text(json.dumps(index))


def _corrupt_layer(layout: Path) -> tuple[str, str]:
    manifest = _blob(layout, _entry(layout)["digest"])
    layer = json.loads(manifest.read_text())["layers"][1]
    blob = _blob(layout, layer["digest"])
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    return str(manifest), "layers[1].digest"


def _huge_manifest(layout: Path) -> tuple[str, str]:
    import hashlib

    data = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {}, "layers": [], "pad": "x" * (4 << 20)}).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _blob(layout, digest).write_bytes(data)
    _set_index(layout, digest=digest, size=len(data))
    return str(layout / "index.json"), "manifests[0].digest"


def _escaping_blob(layout: Path) -> tuple[str, str]:
    manifest = _blob(layout, _entry(layout)["digest"])
    config = _blob(layout, json.loads(manifest.read_text())["config"]["digest"])
    outside = layout.parent / "outside-config"
    outside.write_bytes(config.read_bytes())
    config.unlink()
    os.symlink(outside, config)
    return str(manifest), "config.digest"


def _second_image(layout: Path) -> tuple[str, str]:
    index = json.loads((layout / "index.json").read_text())
    config = json.loads(_blob(layout, index["manifests"][0]["digest"]).read_text())["config"]
    index["manifests"].append({**index["manifests"][0], "digest": config["digest"], "size": config["size"]})
    (layout / "index.json").write_text(json.dumps(index))
    return str(layout / "index.json"), "manifests[1].digest"


BAD_LAYOUTS = {
    "digest that escapes": lambda d: (_set_index(d, digest="sha256:../../../etc/passwd"),
                                      (str(d / "index.json"), "manifests[0].digest"))[1],
    "size not the manifest's": lambda d: (_set_index(d, size=_entry(d)["size"] + 1),
                                          (str(d / "index.json"), "manifests[0].size"))[1],
    "size not a number": lambda d: (_set_index(d, size="12"), (str(d / "index.json"), "manifests[0].size"))[1],
    "manifest over 4 MiB": _huge_manifest,
    "layer not its digest": _corrupt_layer,
    "blob a symbolic link out of the layout": _escaping_blob,
    "two images": _second_image,
    "no index.json": lambda d: ((d / "index.json").unlink(), (str(d), None))[1],
}


@pytest.mark.parametrize("case", sorted(BAD_LAYOUTS))
def test_a_bad_layout_is_one_line_naming_file_and_field_exit_2_nothing_written(tmp_path, make_registry, case):
    mirror = make_registry("oci-catalog-bad-mirror")
    layout = tmp_path / "bad-index"
    catalog_layout(layout)
    file, field = BAD_LAYOUTS[case](layout)
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{mirror.host}/mirror"], images=[],
                              registries={mirror.host: registry_settings(mirror)},
                              operators=[{"catalog": f"oci://{layout}", "packages": [{"name": "gamma"}]}])
    out = tmp_path / "out"
    for argv in (("run", str(manifest), "--output-dir", str(out)), ("plan", str(manifest))):
        proc = mirrorsync(*argv)
        assert proc.returncode == 2, (argv, proc.stderr)
        [line] = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
        assert f"error: {file}: {field + ': ' if field else ''}" in line, line
        assert "Traceback" not in proc.stderr
    assert not out.exists()
    assert httpx.get(f"{mirror.url}/v2/_catalog").json()["repositories"] == []


def test_convert_of_an_imageset_with_an_oci_catalog_plans_it(tmp_path, source):
    layout = tmp_path / "isc" / "catalogs" / "redhat-operator-index"
    digest = catalog_layout(layout, lambda n: source.images[n])
    isc = tmp_path / "isc" / "imageset.yaml"
    isc.write_text("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n"
                   "  operators:\n  - catalog: oci://./catalogs/redhat-operator-index\n"
                   "    packages:\n    - name: gamma\n")
    converted = tmp_path / "elsewhere" / "manifest.yaml"
    converted.parent.mkdir()
    proc = mirrorsync("convert", str(isc), "--output", str(converted), "--mirror", "mirror.example.com:5000/ns")
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(converted.read_text())
    assert doc["operators"][0]["catalog"] == f"oci://{layout}"  # absolute: the manifest lives elsewhere
    doc["registries"] = {source.host: registry_settings(source)}
    converted.write_text(yaml.safe_dump(doc, sort_keys=False))
    planned = mirrorsync("plan", str(converted), "--output", "json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    [catalog] = plan["catalogs"]
    assert catalog["catalog"] == f"oci://{layout}" and catalog["digest"] == digest and catalog["error"] is None
    assert [b["name"] for b in catalog["bundles"]] == ["gamma.v0.1.0"]
    destinations = {d for j in plan["jobs"] for d in j["destinations"]}
    assert "mirror.example.com:5000/ns/redhat-operator-index" in destinations
    assert f"mirror.example.com:5000/ns/{source.images['gamma.v0.1.0-bundle'].split('/', 1)[1].split('@')[0]}" \
        in destinations


def test_an_oci_catalog_crosses_an_air_gap_by_its_name(tmp_path, source, make_registry):
    far = make_registry("oci-catalog-far")
    layout = tmp_path / "layouts" / "my-index"
    digest = catalog_layout(layout, lambda n: source.images[n])
    manifest = write_manifest(tmp_path / "m.yaml", mirrors=[f"{far.host}/mirror"], images=[],
                              registries={r.host: registry_settings(r) for r in (source, far)},
                              operators=[{"catalog": "oci://./layouts/my-index", "packages": [{"name": "gamma"}]}])
    export_dir = tmp_path / "export"
    exported = mirrorsync("export", str(manifest), "--to", str(export_dir))
    assert exported.returncode == 0, exported.stderr
    source.stop()
    layout.rename(tmp_path / "gone")  # the far side has neither the source nor the layout: only the export

    out = tmp_path / "out"
    imported = mirrorsync("import", str(export_dir), "--output-dir", str(out))
    assert imported.returncode == 0, imported.stderr
    [entry] = json.loads((out / "report.json").read_text())["catalogs"]
    # the import loads the export's copy of the manifest: the relative path names a place beside it, not read
    assert entry["catalog"] == f"oci://{export_dir / 'layouts' / 'my-index'}" and entry["sourceDigest"] == digest
    [m] = entry["mirrors"]
    assert m["status"] == "pushed" and m["reference"] == f"{far.host}/mirror/my-index:latest"
    assert on_mirror(far, "mirror/my-index", "latest") == m["digest"]
    [bundle] = entry["images"]
    repo, bundle_digest = bundle.split("/", 1)[1].split("@")
    assert on_mirror(far, f"mirror/{repo}", bundle_digest) == bundle_digest
