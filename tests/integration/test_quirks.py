"""The quirks of real registry products (``devtools.quirk_proxy``, in front of the real docker-registry on both
sides of a run), for both engines: each run succeeds, or fails naming the reason where the product cannot hold
the content, with nothing tagged on the mirror for what failed and no CR entry for it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from devtools.quirk_proxy import QuirkProxy, Quirks
from support.cli import Run, mirrorsync, write_manifest
from support.fault_proxy import image_problems, oracle_client, tags_of

pytestmark = pytest.mark.integration

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ENGINES = ["native", "skopeo"]


@pytest.fixture
def behind() -> Iterator[Callable[..., QuirkProxy]]:
    """``behind(registry, Quirks(...))``: a started quirk proxy in front of a LocalRegistry, stopped after."""
    started: list[QuirkProxy] = []

    def make(registry, quirks: Quirks) -> QuirkProxy:
        proxy = QuirkProxy(registry.url, quirks).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


def sync(tmp_path, engine: str, source: QuirkProxy, mirror: str, images: list[dict], *,
         registries: dict | None = None, name: str = "m.yaml") -> Run:
    hosts = {source.host, mirror.split("/")[0]}
    settings = {h: {"tlsVerify": False} for h in hosts}
    for host, extra in (registries or {}).items():
        settings[host] = {**settings.get(host, {}), **extra}
    manifest = write_manifest(tmp_path / name, mirrors=[mirror], registries=settings,
                              images=[{**i, "source": f"{source.host}/{i['source']}"} for i in images],
                              options={"engine": engine})
    out = tmp_path / "out"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out))
    return Run(proc.returncode, proc.stdout, proc.stderr, out)


def idms_sources(run: Run) -> list[str]:
    path = run.crs_dir / "imagedigestmirrorset.yaml"
    if not path.exists():
        return []
    return sorted(e["source"] for doc in run.cr("imagedigestmirrorset.yaml") for e in doc["spec"]["imageDigestMirrors"])


def complete_on(mirror_registry, repo: str, tag: str, digest: str) -> None:
    with oracle_client(mirror_registry) as client:
        assert image_problems(client, repo, tag) == []
        assert image_problems(client, repo, digest) == []


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("quirk", ["no_digest_header", "head_401", "no_mount", "ignore_pagination",
                                   "no_referrers"])
def test_quirks_a_run_goes_through(tmp_path, registry, mirror_registry, seed, unique_repo, behind, engine, quirk):
    quirks = Quirks(**{quirk: True})
    source, mirror = behind(registry, quirks), behind(mirror_registry, quirks)
    base = unique_repo(f"{quirk}-{engine}")
    # two repositories with the same layers: the second one's blobs can be mounted from the first
    first = seed(registry, f"{base}/one", "v1", seed=7)
    second = seed(registry, f"{base}/two", "v1", seed=7)
    for tag in ("v2", "v3"):
        seed(registry, f"{base}/two", tag, seed=7)
    # the native engine asks for OCI referrers (the API the no_referrers quirk takes away; skopeo copies none)
    extra = {"referrers": True} if engine == "native" else {}
    run = sync(tmp_path, engine, source, f"{mirror.host}/q", [
        {"source": f"{base}/one", "tags": ["v1"], **extra},
        {"source": f"{base}/two", "allTags": True}])
    assert run.returncode == 0, run.stderr
    if engine == "native" or quirk not in ("no_mount", "no_referrers"):  # the run met the quirk
        assert source.applied[quirk] + mirror.applied[quirk] > 0, (source.applied, mirror.applied)
    complete_on(mirror_registry, f"q/{base}/one", "v1", first.digest)
    complete_on(mirror_registry, f"q/{base}/two", "v1", second.digest)
    with oracle_client(mirror_registry) as client:
        assert tags_of(client, f"q/{base}/two") == ["v1", "v2", "v3"]  # every tag, whatever n/last say
    assert idms_sources(run) == [f"{source.host}/{base}/one", f"{source.host}/{base}/two"]


@pytest.mark.parametrize("engine", ENGINES)
def test_no_chunked_upload_sends_a_large_blob_in_one_put(tmp_path, registry, mirror_registry, seed, unique_repo,
                                                          behind, engine):
    source = behind(registry, Quirks())
    mirror = behind(mirror_registry, Quirks(no_chunked_upload=True))
    repo = unique_repo(f"chunks-{engine}")
    img = seed(registry, repo, "v1", kind="oci", layers=1, layer_size=(32 << 20) + 4096)  # past one PATCH chunk
    run = sync(tmp_path, engine, source, f"{mirror.host}/q", [{"source": repo, "tags": ["v1"]}])
    if engine == "native":
        assert run.returncode == 0, run.stderr
        assert mirror.refusals("UNSUPPORTED"), "the native engine never tried a PATCH: the quirk was not met"
        complete_on(mirror_registry, f"q/{repo}", "v1", img.digest)
        assert idms_sources(run) == [f"{source.host}/{repo}"]
        return
    # skopeo (containers/image) always uploads in a PATCH: it cannot, and says why
    assert run.returncode == 1, run.stderr
    error = run.image(repo, "v1")["error"]
    assert "405" in error or "UNSUPPORTED" in error or "not supported" in error, error
    with oracle_client(mirror_registry) as client:
        assert tags_of(client, f"q/{repo}") == []
    assert idms_sources(run) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_refused_media_type_fails_that_image_naming_it_and_tags_nothing(tmp_path, registry, mirror_registry, seed,
                                                                          unique_repo, behind, engine):
    source = behind(registry, Quirks())
    mirror = behind(mirror_registry, Quirks(reject_media_types=frozenset({OCI_INDEX})))
    base = unique_repo(f"media-{engine}")
    seed(registry, f"{base}/index", "v1", kind="oci-index")
    single = seed(registry, f"{base}/single", "v1", kind="oci")
    run = sync(tmp_path, engine, source, f"{mirror.host}/q", [
        {"source": f"{base}/index", "tags": ["v1"]}, {"source": f"{base}/single", "tags": ["v1"]}])
    assert run.returncode == 1, run.stderr
    error = run.image(f"{base}/index", "v1")["error"]
    assert "MANIFEST_INVALID" in error or OCI_INDEX in error, error
    if engine == "native":
        assert f"refuses manifests of media type {OCI_INDEX}" in error, error
    with oracle_client(mirror_registry) as client:
        assert tags_of(client, f"q/{base}/index") == []  # nothing tagged: the index never got there
    complete_on(mirror_registry, f"q/{base}/single", "v1", single.digest)
    assert idms_sources(run) == [f"{source.host}/{base}/single"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_depth_limited_mirror_refuses_deep_pushes_until_maxnestedpaths_says_its_depth(
        tmp_path, registry, mirror_registry, seed, unique_repo, behind, engine):
    source = behind(registry, Quirks())
    mirror = behind(mirror_registry, Quirks(max_nested_paths=2))
    repo = unique_repo(f"depth-{engine}")  # t/<name>: with the mirror's namespace, three components
    img = seed(registry, repo, "v1", kind="oci")
    run = sync(tmp_path, engine, source, f"{mirror.host}/q", [{"source": repo, "tags": ["v1"]}])
    assert run.returncode == 1, run.stderr
    assert "NAME_INVALID" in run.image(repo, "v1")["error"] or "invalid" in run.image(repo, "v1")["error"].lower()
    assert idms_sources(run) == []
    run = sync(tmp_path, engine, source, f"{mirror.host}/q", [{"source": repo, "tags": ["v1"]}],
               registries={mirror.host: {"maxNestedPaths": 2}})
    assert run.returncode == 0, run.stderr
    flat = "q/" + repo.replace("/", "-")
    assert run.image(repo, "v1")["destinations"][0]["repository"] == f"{mirror.host}/{flat}"
    complete_on(mirror_registry, flat, "v1", img.digest)
    assert idms_sources(run) == [f"{source.host}/{repo}"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_push_into_a_namespace_that_does_not_exist_names_it(tmp_path, registry, mirror_registry, seed,
                                                              unique_repo, behind, engine):
    source = behind(registry, Quirks())
    mirror = behind(mirror_registry, Quirks(namespaces=frozenset({"ocp"})))
    repo = unique_repo(f"ns-{engine}")
    img = seed(registry, repo, "v1", kind="oci")
    run = sync(tmp_path, engine, source, f"{mirror.host}/missing", [{"source": repo, "tags": ["v1"]}])
    assert run.returncode == 1, run.stderr
    error = run.image(repo, "v1")["error"]
    assert "missing" in error, error
    if engine == "native":
        assert f"namespace missing does not exist on {mirror.host}" in error, error
    assert idms_sources(run) == []
    run = sync(tmp_path, engine, source, f"{mirror.host}/ocp", [{"source": repo, "tags": ["v1"]}])
    assert run.returncode == 0, run.stderr
    complete_on(mirror_registry, f"ocp/{repo}", "v1", img.digest)
    report = json.loads((run.output_dir / "report.json").read_text())
    assert report["status"] == "Succeeded"
