"""Helm charts end to end against the real registry: charts built in the test (one with a dependency subchart, one
with its images only under custom value paths, one with a provenance file) served by a chart repository on
127.0.0.1, one pushed to an OCI registry as helm pushes it, one local directory. skopeo (which shares no code with
mirrorsync) reads each mirrored chart: helm's media types, the layer is the source .tgz byte for byte, the OCI
source's digest is kept; every image of every chart is on the mirror and in the IDMS; a second run pushes
nothing. Bad input (an index that is no chart index, a version nothing satisfies, an archive with ``..`` paths)
is exit 2 with nothing written."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import httpx
import pytest
import yaml

from devtools.devregistry import TestCA
from devtools.samples import Blob
from support.charts import ChartRepoServer, chart, index_yaml, tgz
from support.cli import mirrorsync, registry_settings, with_mirrors, write_manifest
from support.tls import server_context
from test_prune import present as present_on

pytestmark = pytest.mark.integration

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov"
PROV = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: signed\n-----END PGP SIGNATURE-----\n"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def site(make_registry, pusher_for, seed, tmp_path):
    source, mirror = make_registry("charts-source"), make_registry("charts-mirror")
    images = {name: seed(source, f"apps/{name}", tag, kind="oci", arches=("amd64",))
              for name, tag in (("web", "1.0"), ("db", "2.0"), ("engine", "3.0"), ("tool", "4.0"),
                                ("signed", "5.0"), ("own", "6.0"))}
    host = source.host
    db = chart("db", "0.5.0", values={"image": {"registry": host, "repository": "apps/db", "tag": "2.0"}})
    web = chart("web", "1.0.0", values={"image": {"registry": host, "repository": "apps/web", "tag": "1.0"}},
                subcharts=(db,), dependencies=[{"name": "db", "version": "0.5.0", "repository": ""}])
    web_old = chart("web", "0.9.0", values={"image": f"{host}/apps/web:0.9"})
    custom = chart("custom", "2.0.0", values={"engine": {"img": {"registry": host, "repository": "apps/engine",
                                                                 "tag": "3.0"}}})
    signed = chart("signed", "0.1.0", values={"image": f"{host}/apps/signed:5.0"})
    archives = {"web-1.0.0.tgz": web, "web-0.9.0.tgz": web_old, "custom-2.0.0.tgz": custom,
                "signed-0.1.0.tgz": signed, "signed-0.1.0.tgz.prov": PROV}
    files = {"stable/index.yaml": index_yaml([("web", "0.9.0", web_old), ("web", "1.0.0", web),
                                              ("custom", "2.0.0", custom), ("signed", "0.1.0", signed)]),
             **{f"stable/{k}": v for k, v in archives.items()}, "nochart/index.yaml": b"<html>login</html>\n"}
    server = ChartRepoServer(files).start()
    # an OCI chart as helm push writes it (pretty-printed here, so a rebuilt manifest would not keep its digest)
    tool = chart("tool", "0.4.0", values={"image": f"{host}/apps/tool:4.0"})
    pusher = pusher_for(source)
    config = Blob(HELM_CONFIG, json.dumps({"name": "tool", "version": "0.4.0", "apiVersion": "v2"}).encode())
    layer = Blob(HELM_CHART, tool)
    for b in (config, layer):
        pusher.push_blob("charts/tool", b)
    tool_manifest = Blob("application/vnd.oci.image.manifest.v1+json", json.dumps(
        {"schemaVersion": 2, "config": config.descriptor(), "layers": [layer.descriptor()],
         "annotations": {"org.opencontainers.image.title": "tool"}}, indent=2).encode())
    tool_digest = pusher.push_manifest("charts/tool", "0.4.0", tool_manifest)
    own = tmp_path / "charts" / "own"
    (own / "templates").mkdir(parents=True)
    (own / "Chart.yaml").write_text("apiVersion: v2\nname: own\nversion: 0.3.0\nappVersion: '6.0'\n")
    (own / "values.yaml").write_text(yaml.safe_dump({"image": {"registry": host, "repository": "apps/own"}}))
    (own / "templates" / "d.yaml").write_text("image: {{ .Values.image.repository }}\n"
                                               "sidecar: {{ .Values.sidecar.image }}\n")
    yield {"source": source, "mirror": mirror, "server": server, "images": images, "archives": archives,
           "tool": tool, "tool_digest": tool_digest}
    server.stop()


def charts_manifest(tmp_path: Path, site, charts: dict, name: str = "m.yaml") -> Path:
    return write_manifest(tmp_path / name, mirrors=[f"{site['mirror'].host}/site"], images=[],
                          registries={r.host: registry_settings(r) for r in (site["source"], site["mirror"])},
                          charts=charts, options={"retries": 1})


def every_chart(site) -> dict:
    url = site["server"].url + "stable"
    return {"namespace": "helm",
            "repositories": [{"name": "stable", "url": url, "charts": [
                {"name": "web", "semver": ">=1.0.0 <2"},
                {"name": "custom", "version": "2.0.0", "imagePaths": ["engine.img"]},
                {"name": "signed"}]}],
            "oci": [{"reference": f"oci://{site['source'].host}/charts/tool:0.4.0"}],
            "local": [{"path": "charts/own"}]}


def present(registry, repo: str, digest: str) -> bool:
    with httpx.Client(base_url=registry.url) as client:
        return present_on(client, repo, digest)


def get_manifest(registry, repo: str, ref: str) -> tuple[bytes, str]:
    r = httpx.get(f"{registry.url}/v2/{repo}/manifests/{ref}",
                  headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    r.raise_for_status()
    return r.content, r.headers["Docker-Content-Digest"]


def blob(registry, repo: str, digest: str) -> bytes:
    r = httpx.get(f"{registry.url}/v2/{repo}/blobs/{digest}", follow_redirects=True)
    r.raise_for_status()
    return r.content


def test_charts_and_their_images_land_on_the_mirror_as_helm_stores_them(tmp_path, site, skopeo):
    mirror, source = site["mirror"], site["source"]
    manifest = charts_manifest(tmp_path, site, every_chart(site))
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    entries = {e["chart"]: e for e in report["charts"]}
    assert {(n, e["version"]) for n, e in entries.items()} == {
        ("web", "1.0.0"), ("custom", "2.0.0"), ("signed", "0.1.0"), ("tool", "0.4.0"), ("own", "0.3.0")}

    for name, version in (("web", "1.0.0"), ("custom", "2.0.0"), ("signed", "0.1.0")):
        [m] = entries[name]["mirrors"]
        assert (m["status"], m["reference"]) == ("pushed", f"{mirror.host}/site/helm/{name}:{version}")
        raw = skopeo.inspect_raw(m["reference"], tls_verify=False)  # a pure-OCI read, by another client
        doc = json.loads(raw)
        assert sha(raw) == m["digest"]
        assert doc["config"]["mediaType"] == HELM_CONFIG
        layers = {layer["mediaType"]: layer for layer in doc["layers"]}
        source_tgz = site["archives"][f"{name}-{version}.tgz"]
        assert blob(mirror, f"site/helm/{name}", layers[HELM_CHART]["digest"]) == source_tgz
        config = json.loads(blob(mirror, f"site/helm/{name}", doc["config"]["digest"]))
        assert (config["name"], config["version"], config["apiVersion"]) == (name, version, "v2")
        assert doc["annotations"]["org.opencontainers.image.version"] == version
        if name == "signed":
            assert blob(mirror, f"site/helm/{name}", layers[HELM_PROV]["digest"]) == PROV
        else:
            assert HELM_PROV not in layers
    assert entries["signed"]["provenance"] is True

    # the OCI chart: copied as it is, its digest kept
    [m] = entries["tool"]["mirrors"]
    assert m["reference"] == f"{mirror.host}/site/helm/tool:0.4.0"
    assert skopeo.inspect_digest(m["reference"], tls_verify=False) == site["tool_digest"] == m["digest"]
    assert blob(mirror, "site/helm/tool", sha(site["tool"])) == site["tool"]

    # every image of every chart: on the mirror, in the IDMS, and how it was found
    found = {i["image"]: (i["foundBy"], i["onMirror"]) for e in entries.values() for i in e["images"]}
    host = source.host
    assert found == {f"{host}/apps/web:1.0": ("values", True), f"{host}/apps/db:2.0": ("values", True),
                     f"{host}/apps/engine:3.0": ("imagePaths", True), f"{host}/apps/signed:5.0": ("values", True),
                     f"{host}/apps/tool:4.0": ("values", True), f"{host}/apps/own:6.0": ("values", True)}
    idms = yaml.safe_load((out / "cluster-resources" / "imagedigestmirrorset.yaml").read_text())
    idms_sources = {e["source"]: e["mirrors"] for e in idms["spec"]["imageDigestMirrors"]}
    for name, image in site["images"].items():
        assert idms_sources[f"{host}/apps/{name}"] == [f"{mirror.host}/site/apps/{name}"]
        assert skopeo.inspect_digest(f"{mirror.host}/site/apps/{name}:{image.tag}", tls_verify=False) == \
            image.digest
    assert not any("/helm/" in s or "charts/tool" in s for s in idms_sources)  # helm names the mirror itself
    # the local chart's template reads a value its values leave unset: a warning, never a silent gap
    assert entries["own"]["warnings"] == ["chart own: a template references .Values.sidecar.image, which the "
                                          "values leave unset: its image is not known"]
    assert "sidecar.image" in proc.stderr

    # nothing changed: nothing is pushed
    again = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert again.returncode == 0, again.stderr
    report = json.loads((out / "report.json").read_text())
    assert {e["chart"]: [m["status"] for m in e["mirrors"]] for e in report["charts"]} == {
        "web": ["up-to-date"], "custom": ["up-to-date"], "signed": ["up-to-date"], "tool": ["up-to-date"],
        "own": ["up-to-date"]}
    assert {i["status"] for i in report["images"]} == {"up-to-date"}

    # verify knows the charts: a chart's layer gone from the mirror is found missing
    ok = mirrorsync("verify", str(out / "report.json"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    web_layer = sha(site["archives"]["web-1.0.0.tgz"])
    assert httpx.delete(f"{mirror.url}/v2/site/helm/web/blobs/{web_layer}").status_code == 202
    bad = mirrorsync("verify", str(out / "report.json"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"missing: {mirror.host}/site/helm/web@{web_layer}" in bad.stdout, bad.stdout


def test_the_skopeo_engine_copies_an_oci_chart_as_it_is(tmp_path, site, skopeo):
    """skopeo copies helm's media types like any OCI artifact (``--preserve-digests``): the OCI chart keeps its
    digest, its layer is the archive; the pushed charts and every image are there as with the native engine."""
    mirror = site["mirror"]
    manifest = charts_manifest(tmp_path, site, every_chart(site))
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out), "--engine", "skopeo")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["engine"] == "skopeo"
    entries = {e["chart"]: e for e in report["charts"]}
    [m] = entries["tool"]["mirrors"]
    assert (m["reference"], m["digest"], m["error"]) == (f"{mirror.host}/site/helm/tool:0.4.0", site["tool_digest"],
                                                         None)
    raw, digest = get_manifest(mirror, "site/helm/tool", "0.4.0")
    assert digest == site["tool_digest"]
    doc = json.loads(raw)
    assert doc["config"]["mediaType"] == HELM_CONFIG and [x["mediaType"] for x in doc["layers"]] == [HELM_CHART]
    assert blob(mirror, "site/helm/tool", sha(site["tool"])) == site["tool"]
    assert {n: [x["status"] for x in e["mirrors"]] for n, e in entries.items()} == {
        n: ["pushed"] for n in ("web", "custom", "signed", "own")} | {"tool": ["copied"]}
    for name, image in site["images"].items():
        assert get_manifest(mirror, f"site/apps/{name}", image.tag)[1] == image.digest


def test_plan_lists_the_charts_and_their_images(tmp_path, site):
    manifest = charts_manifest(tmp_path, site, every_chart(site))
    proc = mirrorsync("plan", str(manifest), "--output", "json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert {(c["chart"], c["version"]) for c in plan["charts"]} == {
        ("web", "1.0.0"), ("custom", "2.0.0"), ("signed", "0.1.0"), ("tool", "0.4.0"), ("own", "0.3.0")}
    text = mirrorsync("plan", str(manifest))
    assert text.returncode == 0, text.stderr
    assert f"chart web 1.0.0 ({site['server'].url}stable/web-1.0.0.tgz) -> " in text.stdout
    assert f"  image {site['source'].host}/apps/engine:3.0 (imagePaths: custom: engine.img)" in text.stdout


@pytest.mark.parametrize("change, where", [
    (lambda c, url: c["repositories"][0].update(url=url + "nochart"),
     "charts.repositories[0].url: {url}nochart/index.yaml is not a chart index"),
    (lambda c, url: c["repositories"][0]["charts"][0].update(semver=">=3"),
     "charts.repositories[0].charts[0].semver: no version of chart web of repository stable satisfies semver "
     "'>=3' (it has 0.9.0, 1.0.0)"),
])
def test_bad_input_is_exit_2_at_its_line(tmp_path, site, change, where):
    charts = every_chart(site)
    change(charts, site["server"].url)
    manifest = charts_manifest(tmp_path, site, charts)
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 2, proc.stderr
    assert f"{manifest}:" in proc.stderr and where.format(url=site["server"].url) in proc.stderr
    assert not (out / "report.json").exists()


def test_an_archive_with_paths_outside_the_chart_is_refused_and_nothing_extracted(tmp_path, site):
    evil = tgz({"evil/Chart.yaml": "name: evil\nversion: 1.0.0\n", "evil/../../escaped.txt": "x"})
    site["server"].files.update({"bad/index.yaml": index_yaml([("evil", "1.0.0", evil)]),
                                 "bad/evil-1.0.0.tgz": evil})
    manifest = charts_manifest(tmp_path, site, {"repositories": [
        {"name": "bad", "url": site["server"].url + "bad", "charts": [{"name": "evil"}]}]})
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 2, proc.stderr
    assert (f"charts.repositories[0].charts[0]: chart evil 1.0.0 ({site['server'].url}bad/evil-1.0.0.tgz): "
            in proc.stderr)
    assert "an entry outside the chart: 'evil/../../escaped.txt'" in proc.stderr
    assert not (out / "report.json").exists()
    assert not list(tmp_path.rglob("escaped.txt")) and not (tmp_path.parent / "escaped.txt").exists()


def test_export_carries_the_charts_and_their_images_and_import_pushes_them_offline(tmp_path, site):
    mirror = site["mirror"]
    manifest = charts_manifest(tmp_path, site, every_chart(site))
    direct = tmp_path / "direct"
    assert mirrorsync("run", str(manifest), "--output-dir", str(direct)).returncode == 0
    want = {e["chart"]: e["mirrors"][0]["digest"] for e in json.loads((direct / "report.json").read_text())["charts"]}
    export_dir = tmp_path / "export"
    proc = mirrorsync("export", str(manifest), "--to", str(export_dir))
    assert proc.returncode == 0, proc.stderr
    # the dark site: no source registry, no chart repository, no local chart; a fresh mirror namespace
    site["source"].stop()
    site["server"].stop()
    for f in sorted((tmp_path / "charts").rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    dark_manifest = with_mirrors(manifest, [f"{mirror.host}/dark"], tmp_path / "dark.yaml")
    out = tmp_path / "out"
    proc = mirrorsync("import", str(export_dir), "--manifest", str(dark_manifest), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    got = {e["chart"]: e["mirrors"][0] for e in report["charts"]}
    # the same artifacts a direct run pushes, digest for digest
    assert {n: m["digest"] for n, m in got.items()} == want
    assert {n: m["reference"].split("/", 1)[1] for n, m in got.items()} == {
        "web": "dark/helm/web:1.0.0", "custom": "dark/helm/custom:2.0.0", "signed": "dark/helm/signed:0.1.0",
        "tool": "dark/helm/tool:0.4.0", "own": "dark/helm/own:0.3.0"}
    for name, version in (("web", "1.0.0"), ("signed", "0.1.0")):
        raw, digest = get_manifest(mirror, f"dark/helm/{name}", version)
        layer = next(x for x in json.loads(raw)["layers"] if x["mediaType"] == HELM_CHART)
        assert blob(mirror, f"dark/helm/{name}", layer["digest"]) == site["archives"][f"{name}-{version}.tgz"]
    for name, image in site["images"].items():
        assert get_manifest(mirror, f"dark/apps/{name}", image.tag)[1] == image.digest
    assert all(i["onMirror"] for e in report["charts"] for i in e["images"])
    # the import's report does not carry the archives on; the export's does, under its SHA256SUMS
    assert "carriedChart" not in (out / "report.json").read_text()
    assert "carriedChart" in (export_dir / "report.json").read_text()


def test_prune_takes_away_the_images_of_a_dropped_chart_and_keeps_those_of_a_chart_it_cannot_read(tmp_path, site):
    mirror, host = site["mirror"], site["source"].host
    manifest = charts_manifest(tmp_path, site, every_chart(site))
    out = tmp_path / "out"
    assert mirrorsync("run", str(manifest), "--output-dir", str(out)).returncode == 0
    narrow_charts = every_chart(site)
    del narrow_charts["repositories"][0]["charts"][1]  # custom: its engine image is no chart's any more
    narrow = charts_manifest(tmp_path, site, narrow_charts, "narrow.yaml")
    proc = mirrorsync("prune", str(narrow), "--output-dir", str(out), "--output", "json")
    assert proc.returncode == 0, proc.stderr
    removals = json.loads(proc.stdout)["removals"]
    assert [(r["repository"], r["tag"], r["action"]) for r in removals] == [
        (f"{mirror.host}/site/apps/engine", "3.0", "delete"), (f"{mirror.host}/site/helm/custom", "2.0.0", "delete")]
    # the chart repository down: every image its charts still selected stays (only the dropped chart's goes),
    # and prune says why
    url = site["server"].url
    site["server"].stop()
    proc = mirrorsync("prune", str(narrow), "--output-dir", str(out), "--output", "json",
                      env={"MIRRORSYNC_RETRY_WAIT": "0.01"})
    result = json.loads(proc.stdout)
    assert [r["repository"] for r in result["removals"] if r["action"] == "delete"] == [
        f"{mirror.host}/site/apps/engine", f"{mirror.host}/site/helm/custom"]
    assert any(w.startswith(f"every image of {url}stable/web: ") for w in result["keptWhole"]), result["keptWhole"]
    assert get_manifest(mirror, "site/apps/web", "1.0")[1] == site["images"]["web"].digest
    assert f"{host}/apps/engine" in (out / "report.json").read_text()  # a dry run writes nothing


def test_prune_deletes_a_chart_version_the_manifest_no_longer_selects_and_never_one_it_selects(tmp_path, site, seed):
    mirror = site["mirror"]
    seed(site["source"], "apps/web", "0.9", kind="oci", arches=("amd64",))  # web 0.9.0's image
    wide = every_chart(site)
    wide["repositories"][0]["charts"][0]["semver"] = ">=0.9.0 <2"
    manifest = charts_manifest(tmp_path, site, wide)
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    charts = {(e["chart"], e["version"]): e for e in json.loads((out / "report.json").read_text())["charts"]}
    old, new = charts[("web", "0.9.0")]["digest"], charts[("web", "1.0.0")]["digest"]
    signed = charts[("signed", "0.1.0")]["digest"]
    assert get_manifest(mirror, "site/helm/web", "0.9.0")[1] == old
    narrow = charts_manifest(tmp_path, site, every_chart(site), "narrow.yaml")  # web >=1.0.0 <2 again

    dry = mirrorsync("prune", str(narrow), "--output-dir", str(out), "--output", "json")
    assert dry.returncode == 0, dry.stderr
    going = {(r["repository"], r["tag"]): r for r in json.loads(dry.stdout)["removals"]}
    assert set(going) == {(f"{mirror.host}/site/helm/web", "0.9.0"), (f"{mirror.host}/site/apps/web", "0.9")}
    chart_removal = going[(f"{mirror.host}/site/helm/web", "0.9.0")]
    assert (chart_removal["digest"], chart_removal["action"], chart_removal["section"]) == (old, "delete", "charts")
    assert "web 0.9.0 is no longer among the versions" in chart_removal["reason"]
    assert present(mirror, "site/helm/web", old)  # a dry run deletes nothing

    applied = mirrorsync("prune", str(narrow), "--output-dir", str(out), "--apply")
    assert applied.returncode == 0, applied.stderr
    assert not present(mirror, "site/helm/web", old)
    assert present(mirror, "site/helm/web", new) and present(mirror, "site/helm/signed", signed)
    assert get_manifest(mirror, "site/helm/web", "1.0.0")[1] == new
    assert {(e["chart"], e["version"]) for e in json.loads((out / "report.json").read_text())["charts"]} == {
        ("web", "1.0.0"), ("custom", "2.0.0"), ("signed", "0.1.0"), ("tool", "0.4.0"), ("own", "0.3.0")}
    # nothing is left to delete, and a chart still selected is never a candidate
    again = mirrorsync("prune", str(narrow), "--output-dir", str(out), "--output", "json")
    assert json.loads(again.stdout)["removals"] == [], again.stdout

    # a chart dropped from the manifest whole is the guard's "no longer in the manifest": --apply refuses
    no_signed = every_chart(site)
    del no_signed["repositories"][0]["charts"][2]
    typo = charts_manifest(tmp_path, site, no_signed, "typo.yaml")
    refused = mirrorsync("prune", str(typo), "--output-dir", str(out), "--apply")
    assert refused.returncode == 2, refused.stderr
    assert "signed-0.1.0.tgz is no longer in the manifest: 1 artifact(s) of it would be deleted" in refused.stderr
    assert present(mirror, "site/helm/signed", signed)


def test_repository_credentials_go_to_the_repository_host_only(tmp_path, site):
    """The auth file's entry for the chart repository's host is sent there as Basic auth, and not to another host
    that the index sends the archive download to (Helm's default without --pass-credentials)."""
    web = site["archives"]["web-1.0.0.tgz"]
    elsewhere = ChartRepoServer({"web-1.0.0.tgz": web}).start()
    try:
        server = site["server"]
        server.files["private/index.yaml"] = index_yaml([("web", "1.0.0", web)], url_prefix=elsewhere.url)
        auth_file = tmp_path / "auth.json"
        auth_file.write_text(json.dumps({"auths": {server.origin.split("//", 1)[1]: {
            "auth": base64.b64encode(b"reader:s3cret").decode()}}}))
        auth_file.chmod(0o600)
        manifest = charts_manifest(tmp_path, site, {"repositories": [
            {"name": "private", "url": server.url + "private", "charts": [{"name": "web"}]}]})
        proc = mirrorsync("plan", str(manifest), "--authfile", str(auth_file))
        assert proc.returncode == 0, proc.stderr
        assert ("private/index.yaml", "Basic " + base64.b64encode(b"reader:s3cret").decode()) in server.requests
        assert [a for p, a in elsewhere.requests if p == "web-1.0.0.tgz"] == [None]
        assert "s3cret" not in proc.stdout + proc.stderr
    finally:
        elsewhere.stop()


def test_an_https_repository_is_trusted_only_through_its_cert_dir(tmp_path, site):
    ca = TestCA.create(tmp_path / "ca")
    web = site["archives"]["web-1.0.0.tgz"]
    server = ChartRepoServer({"index.yaml": index_yaml([("web", "1.0.0", web)]), "web-1.0.0.tgz": web})
    server.tls = server_context(ca.issue_server_cert("charts"))
    with server:
        host = server.origin.split("//", 1)[1]
        charts = {"repositories": [{"name": "tls", "url": server.url, "charts": [{"name": "web"}]}]}
        untrusted = charts_manifest(tmp_path, site, charts, "untrusted.yaml")
        proc = mirrorsync("plan", str(untrusted), env={"MIRRORSYNC_RETRY_WAIT": "0.01"})
        assert proc.returncode == 1, proc.stderr
        assert f"cannot plan {server.url}web: chart {server.url}web: " in proc.stderr
        assert "certificate" in proc.stderr.lower()
        cert_dir = tmp_path / "certs.d"
        cert_dir.mkdir()
        (cert_dir / "ca.crt").write_bytes(ca.cert.read_bytes())
        trusted = yaml.safe_load(untrusted.read_text())
        trusted["registries"][host] = {"certDir": str(cert_dir)}
        (tmp_path / "trusted.yaml").write_text(yaml.safe_dump(trusted, sort_keys=False))
        proc = mirrorsync("plan", str(tmp_path / "trusted.yaml"), "--output", "json")
        assert proc.returncode == 0, proc.stderr
        [planned] = json.loads(proc.stdout)["charts"]
        assert (planned["version"], planned["chartDigest"], planned["error"]) == ("1.0.0", sha(web), None)
