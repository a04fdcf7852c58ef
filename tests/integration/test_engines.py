"""One matrix, both engines: every scenario runs ``mirrorsync run`` with ``native`` and with ``skopeo`` against the
real docker-registry, and each engine must pass the same checks (mirror content by ``skopeo inspect``, statuses,
errors, exit code, CRs that validate).

The skopeo case also runs the native engine first, as the reference, then empties the mirror repositories and
runs skopeo into the very same mirror location, so the two can be compared directly: the same digests on the
mirror, the same report fields and values, the same progress lines, the same CR bytes. Per destination, how blobs
split into sent/skipped/mounted may differ (skopeo's blob cache outlives a run and mounts more), so the matrix
compares what every blob adds up to: the blob count and the bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from devtools.devregistry import LocalRegistry
from support.cli import Run, mirrorsync, realm_settings, registry_settings, write_auth_file, write_manifest
from support.crds import validate
from support.wipe import wipe

pytestmark = pytest.mark.integration

ENGINES = ("native", "skopeo")
IMAGE_FIELDS = ("source", "tag", "digest", "status", "mediaType", "children", "mirrorSets", "mirrorSourcePolicy",
                "scope", "error")
DESTINATION_FIELDS = ("mirror", "repository", "status", "error", "manifestsPushed")
TOTALS = ("images", "copied", "upToDate", "failed")
CR_FILES = ("imagedigestmirrorset.yaml", "imagetagmirrorset.yaml", "imagecontentsourcepolicy.yaml")


def plain(*registries: LocalRegistry) -> dict[str, dict[str, Any]]:
    return {r.host: registry_settings(r) for r in registries} | realm_settings(*registries)


def shape(value: Any) -> Any:
    """The keys of a JSON document, recursively: what 'the same report fields' means."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return None


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """What must be equal between engines in a report (everything but timestamps, the engine name and how blobs
    split into sent/skipped/mounted)."""
    images = []
    for img in report["images"]:
        dests = [{**{k: d[k] for k in DESTINATION_FIELDS},
                  "blobs": d["blobsSent"] + d["blobsSkipped"] + d["blobsMounted"],
                  "bytes": d["bytesSent"] + d["bytesSkipped"]} for d in img["destinations"]]
        images.append({**{k: img[k] for k in IMAGE_FIELDS}, "destinations": dests})
    return {"apiVersion": report["apiVersion"], "kind": report["kind"], "manifest": report["manifest"],
            "mirrors": report["mirrors"], "status": report["status"],
            "totals": {k: report["totals"][k] for k in TOTALS}, "images": images}


_PROGRESS = re.compile(r"^\[\d+/(?P<total>\d+)\] (?P<line>.*?)(?: sent \S+ \S+, skipped \S+ \S+)?(?P<rest>: .*)?$")


def progress(stderr: str) -> list[str]:
    """The runner's plain progress lines without what differs by nature: order, byte counts, the output path."""
    out = []
    for line in stderr.splitlines():
        if m := _PROGRESS.match(line):
            out.append(f"[{m['total']}] {' '.join(m['line'].split())}{m['rest'] or ''}")
        elif line.startswith(("planned ", "Succeeded:", "PartiallyFailed:", "Failed:")):
            out.append(line.split("; report ")[0])
    return sorted(out)


@dataclass
class EngineRun:
    engine: str
    runs: list[Run]
    on_mirror: dict[str, str] = field(default_factory=dict)  # mirror reference -> digest skopeo inspect saw

    def crs(self, i: int) -> dict[str, bytes]:
        return {name: (self.runs[i].crs_dir / name).read_bytes() for name in CR_FILES
                if (self.runs[i].crs_dir / name).exists()}


class Matrix:
    """Runs a scenario's manifest with one engine (and, for skopeo, the native reference first) and compares."""

    def __init__(self, tmp_path: Path, inspect: Callable[..., str], skopeo_opts: Callable[..., dict[str, Any]]):
        self.tmp_path = tmp_path
        self.inspect = inspect
        self.skopeo_opts = skopeo_opts
        self._n = count()

    def manifest(self, **manifest: Any) -> Path:
        manifest.setdefault("options", {"retries": 1})
        return write_manifest(self.tmp_path / f"manifest-{next(self._n)}.yaml", **manifest)

    def run(self, engine: str, manifest: Path, *, check: Callable[[Run], None], mirrors: list[LocalRegistry],
            on_mirror: dict[str, str] | None = None, again: bool = False, args: tuple[str, ...] = (),
            env: dict[str, str] | None = None, engine_flag: bool = True) -> EngineRun:
        """Run ``engine`` (``again``: twice); for skopeo, first the native reference, then compare the two.

        ``on_mirror`` maps mirror references (``host/repo:tag`` or ``@digest``) to the digest each must have.
        ``engine_flag=False`` leaves the choice to the manifest's ``options.engine``.
        """
        reference = None
        if engine == "skopeo":
            reference = self._one("native", manifest, check, mirrors, on_mirror or {}, again, args, env, True)
            self._wipe(reference, mirrors)
        got = self._one(engine, manifest, check, mirrors, on_mirror or {}, again, args, env, engine_flag)
        if reference is not None:
            self._compare(reference, got)
        return got

    def _one(self, engine: str, manifest: Path, check: Callable[[Run], None], mirrors: list[LocalRegistry],
             on_mirror: dict[str, str], again: bool, args: tuple[str, ...], env: dict[str, str] | None,
             engine_flag: bool) -> EngineRun:
        runs = []
        for attempt in range(2 if again else 1):
            out = self.tmp_path / f"out-{engine}-{next(self._n)}"
            flag = ("--engine", engine) if engine_flag else ()
            proc = mirrorsync("run", str(manifest), "--output-dir", str(out), *flag, *args, env=env)
            run = Run(proc.returncode, proc.stdout, proc.stderr, out)
            assert run.report["engine"] == engine, run.stderr
            if attempt == 0:
                check(run)
            else:
                # a second run copies nothing and writes the same CR bytes
                assert run.returncode == runs[0].returncode, run.stderr
                assert {i["status"] for i in run.report["images"]} == {"up-to-date"}, run.report
                assert run.report["totals"]["bytesSent"] == 0 and run.report["totals"]["bytesRead"] == 0
            runs.append(run)
        result = EngineRun(engine, runs)
        by_host = {r.host: r for r in mirrors}
        for ref, digest in on_mirror.items():
            seen = self.inspect(ref, **self.skopeo_opts(by_host[ref.split("/", 1)[0]]))
            assert seen == digest, f"{engine}: {ref} is {seen} on the mirror, expected {digest}"
            result.on_mirror[ref] = seen
        if again:
            assert result.crs(1) == result.crs(0)
        return result

    def _wipe(self, reference: EngineRun, mirrors: list[LocalRegistry]) -> None:
        by_host = {r.host: r for r in mirrors}
        targets: dict[tuple[str, str], set[str]] = {}
        for img in reference.runs[0].report["images"]:
            for d in img["destinations"]:
                if d["status"] in ("copied", "up-to-date"):
                    host, repo = d["repository"].split("/", 1)
                    targets.setdefault((host, repo), set()).add(img["digest"])
        for (host, repo), digests in targets.items():
            wipe(by_host[host], repo, digests)

    def _compare(self, native: EngineRun, skopeo: EngineRun) -> None:
        assert skopeo.on_mirror == native.on_mirror
        for a, b in zip(native.runs, skopeo.runs, strict=True):
            assert b.returncode == a.returncode
            assert shape(b.report) == shape(a.report)
            assert comparable(b.report) == comparable(a.report)
            assert progress(b.stderr) == progress(a.stderr)
            assert b.stdout.replace(str(b.output_dir), "OUT") == a.stdout.replace(str(a.output_dir), "OUT")
        for i in range(len(native.runs)):
            assert skopeo.crs(i) == native.crs(i)


@pytest.fixture
def matrix(tmp_path: Path, skopeo_inspect_digest: Callable[..., str],
           skopeo_opts: Callable[..., dict[str, Any]]) -> Matrix:
    return Matrix(tmp_path, skopeo_inspect_digest, skopeo_opts)


def on_mirror_for(mirror_repo: str, img: Any, tag: str | None) -> dict[str, str]:
    """Every reference an image must have on the mirror: the tag (or top digest) and each child by digest."""
    refs = {f"{mirror_repo}:{tag}" if tag else f"{mirror_repo}@{img.digest}": img.digest}
    refs.update({f"{mirror_repo}@{child}": child for child in img.children.values()})
    return refs


# --- the scenarios ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_multiarch_oci_index_docker_list_and_single_images_to_two_mirrors(engine, matrix, registry, mirror_registry,
                                                                          seed, unique_repo):
    images = {kind: seed(registry, unique_repo(kind), "v1", kind=kind, seed=i)
              for i, kind in enumerate(("oci-index", "docker-list", "oci", "docker"))}
    mirrors = [f"{mirror_registry.host}/m", f"{mirror_registry.host}/n"]
    manifest = matrix.manifest(mirrors=mirrors, registries=plain(registry, mirror_registry),
                               images=[{"source": f"{registry.host}/{img.repository}:v1"} for img in images.values()])
    on_mirror = {ref: d for img in images.values() for m in mirrors
                 for ref, d in on_mirror_for(f"{m}/{img.repository}", img, "v1").items()}

    def check(run: Run) -> None:
        assert run.returncode == 0, run.stderr
        assert run.report["status"] == "Succeeded"
        media = {"oci-index": "application/vnd.oci.image.index.v1+json",
                 "docker-list": "application/vnd.docker.distribution.manifest.list.v2+json",
                 "oci": "application/vnd.oci.image.manifest.v1+json",
                 "docker": "application/vnd.docker.distribution.manifest.v2+json"}
        for kind, img in images.items():
            rec = run.image(img.repository, "v1")
            assert (rec["status"], rec["digest"], rec["mediaType"]) == ("copied", img.digest, media[kind])
            assert sorted(rec["children"]) == sorted(img.children.values())
            assert [d["repository"] for d in rec["destinations"]] == [f"{m}/{img.repository}" for m in mirrors]
            assert all(d["status"] == "copied" and d["manifestsPushed"] == 1 + len(img.children)
                       for d in rec["destinations"])
        idms = run.cr("imagedigestmirrorset.yaml")
        itms = run.cr("imagetagmirrorset.yaml")
        for obj in idms + itms:
            validate(obj)
        entries = {e["source"]: e["mirrors"] for obj in idms for e in obj["spec"]["imageDigestMirrors"]}
        assert entries == {f"{registry.host}/{img.repository}": [f"{m}/{img.repository}" for m in mirrors]
                           for img in images.values()}
        assert {e["source"] for obj in itms for e in obj["spec"]["imageTagMirrors"]} == set(entries)

    matrix.run(engine, manifest, check=check, mirrors=[mirror_registry], on_mirror=on_mirror, again=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_tag_regex_and_digest_selection_with_engine_from_the_manifest(engine, matrix, registry, mirror_registry,
                                                                     seed, unique_repo, skopeo):
    repo = unique_repo("sel")
    pushed = {t: seed(registry, repo, t, kind="oci", arches=("amd64",), seed=i)
              for i, t in enumerate(["v1.0", "v1.1", "v1.2-rc", "v2.0"])}
    untagged = seed(registry, repo, None, kind="oci", arches=("amd64",), seed=99)
    manifest = matrix.manifest(
        mirrors=[mirror_registry.host], registries=plain(registry, mirror_registry),
        images=[{"source": f"{registry.host}/{repo}", "include": [r"^v1\."], "exclude": ["-rc"],
                 "digests": [untagged.digest]}],
        options={"retries": 1, "engine": engine})
    mirrored = f"{mirror_registry.host}/{repo}"

    def check(run: Run) -> None:
        assert run.returncode == 0, run.stderr
        assert [(i["tag"], i["digest"], i["status"]) for i in run.report["images"]] == [
            (None, untagged.digest, "copied"), ("v1.0", pushed["v1.0"].digest, "copied"),
            ("v1.1", pushed["v1.1"].digest, "copied")]
        tags = json.loads(skopeo.run("list-tags", "--tls-verify=false", f"docker://{mirrored}").stdout)["Tags"]
        assert sorted(tags) == ["v1.0", "v1.1"]  # the digest job left no tag behind
        # the digest-only image feeds the IDMS; the ITMS exists for the tags
        assert {e["source"] for obj in run.cr("imagetagmirrorset.yaml") for e in obj["spec"]["imageTagMirrors"]} \
            == {f"{registry.host}/{repo}"}

    matrix.run(engine, manifest, check=check, mirrors=[mirror_registry], engine_flag=False, again=True,
               on_mirror={f"{mirrored}:v1.0": pushed["v1.0"].digest, f"{mirrored}:v1.1": pushed["v1.1"].digest,
                          f"{mirrored}@{untagged.digest}": untagged.digest})


def refused_before_copying(engine: str, manifest: Path, tmp_path: Path, env: dict[str, str] | None = None) -> Run:
    """A run that its preflight stops (a mirror it cannot use): no report to compare between the engines."""
    out = tmp_path / f"refused-{engine}"
    proc = mirrorsync("run", str(manifest), "--output-dir", str(out), "--engine", engine, env=env)
    return Run(proc.returncode, proc.stdout, proc.stderr, out)


@pytest.mark.parametrize("engine", ENGINES)
def test_htpasswd_both_sides_from_authfile(engine, matrix, htpasswd_registry, make_registry, seed, unique_repo,
                                           tmp_path):
    mirror = make_registry("mirror-basic", htpasswd=("mirroruser", "mirror-s3cret"))
    mirror.username, mirror.password = "mirroruser", "mirror-s3cret"
    img = seed(htpasswd_registry, unique_repo("basic"), "v1", seed=5)
    auth = write_auth_file(tmp_path / "auth.json", htpasswd_registry, mirror)
    manifest = matrix.manifest(mirrors=[mirror.host], registries=plain(htpasswd_registry, mirror),
                               images=[{"source": f"{htpasswd_registry.host}/{img.repository}:v1"}])

    def check(run: Run) -> None:
        assert run.returncode == 0, run.stderr
        assert run.image(img.repository)["status"] == "copied"
        for text in (run.stderr, run.stdout, (run.output_dir / "report.json").read_text()):
            assert mirror.password not in text and htpasswd_registry.password not in text

    matrix.run(engine, manifest, check=check, mirrors=[mirror], args=("--authfile", str(auth), "-v"),
               on_mirror=on_mirror_for(f"{mirror.host}/{img.repository}", img, "v1"))

    # without credentials: the same clear authentication failure of the mirror before copying, exit 1, no CR
    home = tmp_path / "empty-home"
    home.mkdir()

    def denied(run: Run) -> None:
        assert run.returncode == 1
        assert "401" in run.stderr and f"no credentials: no entry for {mirror.host} in " in run.stderr
        assert not (run.output_dir / "report.json").exists()
        assert not (run.crs_dir / "imagedigestmirrorset.yaml").exists()

    denied(refused_before_copying(engine, manifest, tmp_path, env={"HOME": str(home), "XDG_RUNTIME_DIR": str(home)}))


@pytest.mark.parametrize("engine", ENGINES)
def test_bearer_token_source_from_authfile(engine, matrix, token_registry, token_server, mirror_registry, seed,
                                           unique_repo, tmp_path):
    img = seed(token_registry, unique_repo("tok"), "v1", kind="docker-list", seed=8)
    auth = write_auth_file(tmp_path / "auth.json", token_registry)
    manifest = matrix.manifest(mirrors=[f"{mirror_registry.host}/tok"], registries=plain(token_registry, mirror_registry),
                               images=[{"source": f"{token_registry.host}/{img.repository}:v1"}])
    issued = token_server.issued

    def check(run: Run) -> None:
        nonlocal issued
        assert run.returncode == 0, run.stderr
        assert run.image(img.repository)["status"] == "copied"
        # anonymous users get no grant from this token server: a copy that worked was an authenticated one
        assert token_server.issued > issued
        issued = token_server.issued
        assert token_registry.password not in (run.output_dir / "report.json").read_text() + run.stderr

    matrix.run(engine, manifest, check=check, mirrors=[mirror_registry], args=("--authfile", str(auth)),
               on_mirror=on_mirror_for(f"{mirror_registry.host}/tok/{img.repository}", img, "v1"))


@pytest.mark.parametrize("engine", ENGINES)
def test_tls_source_and_mirror_with_ca_cert_dirs(engine, matrix, tls_registry, make_registry, seed, unique_repo):
    mirror = make_registry("mirror-tls", tls=True)  # its own CA: both --src-cert-dir and --dest-cert-dir matter
    img = seed(tls_registry, unique_repo("tls"), "v1", seed=6)
    manifest = matrix.manifest(mirrors=[f"{mirror.host}/secure"], registries=plain(tls_registry, mirror),
                               images=[{"source": f"{tls_registry.host}/{img.repository}:v1"}])

    def check(run: Run) -> None:
        assert run.returncode == 0, run.stderr
        assert run.image(img.repository)["status"] == "copied"

    matrix.run(engine, manifest, check=check, mirrors=[mirror], again=True,
               on_mirror=on_mirror_for(f"{mirror.host}/secure/{img.repository}", img, "v1"))

    # verification stays on: without the mirror's CA the run fails before copying, it is not silently trusted
    untrusted = matrix.manifest(mirrors=[f"{mirror.host}/other"],
                                registries={tls_registry.host: registry_settings(tls_registry)},
                                images=[{"source": f"{tls_registry.host}/{img.repository}:v1"}])

    def refused(run: Run) -> None:
        assert run.returncode == 1
        assert f"mirror {mirror.host}/other: " in run.stderr and "CERTIFICATE_VERIFY_FAILED" in run.stderr
        assert not (run.output_dir / "report.json").exists()

    refused(refused_before_copying(engine, untrusted, matrix.tmp_path))


@pytest.mark.parametrize("engine", ENGINES)
def test_source_down_fails_that_image_only(engine, matrix, registry, mirror_registry, seed, unique_repo,
                                           closed_port):
    good = seed(registry, unique_repo("up"), "v1", seed=7)
    down = f"127.0.0.1:{closed_port}/gone/app"
    manifest = matrix.manifest(
        mirrors=[mirror_registry.host],
        registries={**plain(registry, mirror_registry), f"127.0.0.1:{closed_port}": {"tlsVerify": False}},
        images=[{"source": f"{down}:v1"}, {"source": f"{registry.host}/{good.repository}:v1"},
                {"source": f"127.0.0.1:{closed_port}/gone/other", "allTags": True}])

    def check(run: Run) -> None:
        assert run.returncode == 1
        assert run.report["status"] == "PartiallyFailed"
        failed = [i for i in run.report["images"] if i["status"] == "failed"]
        assert {i["source"] for i in failed} == {down, f"127.0.0.1:{closed_port}/gone/other"}
        assert all(f"cannot connect to 127.0.0.1:{closed_port}" in i["error"] for i in failed), failed
        assert run.image(good.repository)["status"] == "copied"
        sources = {e["source"] for obj in run.cr("imagedigestmirrorset.yaml")
                   for e in obj["spec"]["imageDigestMirrors"]}
        assert sources == {f"{registry.host}/{good.repository}"}
        assert "failed" in run.stderr

    matrix.run(engine, manifest, check=check, mirrors=[mirror_registry],
               on_mirror=on_mirror_for(f"{mirror_registry.host}/{good.repository}", good, "v1"))
