"""Sample operator catalogs: the FBC documents alone (for filter table tests), and real catalog images pushed to a
test registry with the bundle and related images they name (for end-to-end tests).

The catalog holds four packages:

- ``alpha``: default channel ``stable`` with 1.0.0 <- 1.1.0 <- 1.1.1 and 1.2.0 (replaces 1.1.0, skips 1.1.1,
  skipRange <1.2.0), channel ``fast`` 1.2.0 <- 1.3.0; related images in two repositories; deprecations and a
  document of an unknown schema. Written as JSON.
- ``beta``: default channel ``release-2`` (2.0.0 <- 2.1.0), channel ``release-1`` (1.0.0); 2.1.0 requires the
  package ``gamma`` and the GVK ``delta.example.com/v1 Delta``. Written as YAML, several documents in one file.
- ``gamma``: one channel, one bundle. ``delta``: one bundle providing the GVK beta needs.

The image of every bundle and related image comes from ``image_for(name)``, so the same catalog can name fake
references (table tests) or the digests of tiny images pushed to a registry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from devtools.openshift import hash_seed, push_catalog
from devtools.samples import SamplePusher, push_image

ALPHA_VERSIONS = ("1.0.0", "1.1.0", "1.1.1", "1.2.0", "1.3.0")
# related images of alpha, per bundle: an operand in one repository, an agent in another
ALPHA_RELATED = ("alpha-operand", "tools/alpha-agent")


def fake_image(name: str) -> str:
    """A reference nothing serves, for tests of FBC logic alone."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"registry.example.com/{image_repository(name, 'ops', 'other')}@sha256:{digest}"


def _bundle(package: str, version: str, image_for: Callable[[str], str], *, related: Iterable[str] = (),
            extra_properties: list | None = None) -> dict:
    name = f"{package}.v{version}"
    return {"schema": "olm.bundle", "name": name, "package": package, "image": image_for(f"{name}-bundle"),
            "properties": [{"type": "olm.package", "value": {"packageName": package, "version": version}},
                           *(extra_properties or [])],
            "relatedImages": [{"name": "bundle", "image": image_for(f"{name}-bundle")}]
            + [{"name": r.rsplit("/", 1)[-1], "image": image_for(f"{r}:{version}")} for r in related]}


def alpha_documents(image_for: Callable[[str], str]) -> list[dict]:
    return [
        {"schema": "olm.package", "name": "alpha", "defaultChannel": "stable", "description": "Alpha operator"},
        {"schema": "olm.channel", "package": "alpha", "name": "stable", "entries": [
            {"name": "alpha.v1.0.0"},
            {"name": "alpha.v1.1.0", "replaces": "alpha.v1.0.0"},
            {"name": "alpha.v1.1.1", "replaces": "alpha.v1.1.0"},
            {"name": "alpha.v1.2.0", "replaces": "alpha.v1.1.0", "skips": ["alpha.v1.1.1"],
             "skipRange": ">=1.0.0 <1.2.0"}]},
        {"schema": "olm.channel", "package": "alpha", "name": "fast", "entries": [
            {"name": "alpha.v1.2.0"}, {"name": "alpha.v1.3.0", "replaces": "alpha.v1.2.0"}]},
        *[_bundle("alpha", v, image_for, related=ALPHA_RELATED) for v in ALPHA_VERSIONS],
        {"schema": "olm.deprecations", "package": "alpha", "entries": [
            {"reference": {"schema": "olm.bundle", "name": "alpha.v1.0.0"}, "message": "1.0.0 is deprecated"},
            {"reference": {"schema": "olm.channel", "name": "fast"}, "message": "fast is deprecated"}]},
        {"schema": "example.com.custom", "package": "alpha", "anything": {"kept": ["as", "it", "is"]}},
    ]


def beta_documents(image_for: Callable[[str], str]) -> list[dict]:
    requires = [{"type": "olm.package.required", "value": {"packageName": "gamma", "versionRange": ">=0.1.0"}},
                {"type": "olm.gvk.required", "value": {"group": "delta.example.com", "version": "v1",
                                                        "kind": "Delta"}}]
    return [
        {"schema": "olm.package", "name": "beta", "defaultChannel": "release-2"},
        {"schema": "olm.channel", "package": "beta", "name": "release-1", "entries": [{"name": "beta.v1.0.0"}]},
        {"schema": "olm.channel", "package": "beta", "name": "release-2", "entries": [
            {"name": "beta.v2.0.0"}, {"name": "beta.v2.1.0", "replaces": "beta.v2.0.0"}]},
        _bundle("beta", "1.0.0", image_for),
        _bundle("beta", "2.0.0", image_for),
        _bundle("beta", "2.1.0", image_for, extra_properties=requires),
    ]


def small_package(package: str, version: str, image_for: Callable[[str], str], **kw) -> list[dict]:
    return [{"schema": "olm.package", "name": package, "defaultChannel": "stable"},
            {"schema": "olm.channel", "package": package, "name": "stable",
             "entries": [{"name": f"{package}.v{version}"}]},
            _bundle(package, version, image_for, **kw)]


def catalog_files(image_for: Callable[[str], str] = fake_image, root: str = "configs") -> dict[str, bytes]:
    """The sample catalog as an image holds it below ``root``: JSON streams, and a multi-document YAML file."""
    def stream(docs: list[dict]) -> bytes:
        return "".join(json.dumps(d) + "\n" for d in docs).encode()

    delta_gvk = [{"type": "olm.gvk", "value": {"group": "delta.example.com", "version": "v1", "kind": "Delta"}}]
    return {
        f"{root}/alpha/catalog.json": stream(alpha_documents(image_for)),
        f"{root}/beta/catalog.yaml": yaml.safe_dump_all(beta_documents(image_for), sort_keys=False).encode(),
        f"{root}/gamma/catalog.json": stream(small_package("gamma", "0.1.0", image_for)),
        f"{root}/delta/index.json": stream(small_package("delta", "3.0.0", image_for,
                                                         extra_properties=delta_gvk)),
    }


def image_names() -> list[str]:
    """Every name ``image_for`` is asked for while building the sample catalog."""
    asked: list[str] = []
    catalog_files(lambda n: asked.append(n) or fake_image(n))
    return sorted(set(asked))


# ---- real images ----------------------------------------------------------------------------------------------


@dataclass
class PushedCatalog:
    registry: str
    repository: str
    tag: str
    digest: str
    images: dict[str, str] = field(default_factory=dict)  # image_for name -> "host/repo@digest"
    platforms: tuple[str, ...] = ()

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


def image_repository(name: str, prefix: str, other_prefix: str) -> str:
    """Where the tiny image for ``name`` lives: bundles in ``PREFIX/bundles/<package>-bundle``, ``tools/...``
    related images below ``other_prefix`` (a second repository tree), the others below ``prefix``."""
    if name.endswith("-bundle"):
        return f"{prefix}/bundles/{name.split('.')[0]}-bundle"
    repo_name = name.partition(":")[0]
    return f"{other_prefix if repo_name.startswith('tools/') else prefix}/{repo_name}"


def push_related_images(pusher: SamplePusher, prefix: str, other_prefix: str) -> dict[str, str]:
    """A tiny single-layer image for every bundle and related image the catalog names, pushed by digest."""
    out = {}
    for name in image_names():
        repo = image_repository(name, prefix, other_prefix)
        image = push_image(pusher, repo, None, kind="oci", arches=("amd64",), layers=1, layer_size=64,
                           seed=hash_seed(name), shared_base=False)
        out[name] = f"{pusher.host}/{repo}@{image.digest}"
    return out




class LayoutWriter:
    """Takes ``push_catalog``'s blobs and manifests into an OCI image layout on disk, as ``skopeo copy --all …
    oci:DIR:TAG`` writes one: every blob under ``blobs/sha256``, the tagged manifest the one entry of index.json
    (``org.opencontainers.image.ref.name`` the tag); manifests pushed by digest are blobs only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        self.entries: list[dict] = []

    def push_blob(self, repository: str, blob) -> None:
        (self.path / "blobs" / "sha256" / blob.digest.split(":", 1)[1]).write_bytes(blob.data)

    def push_manifest(self, repository: str, reference: str, manifest) -> str:
        self.push_blob(repository, manifest)
        if not reference.startswith("sha256:"):
            self.entries.append({"mediaType": manifest.media_type, "digest": manifest.digest,
                                 "size": len(manifest.data),
                                 "annotations": {"org.opencontainers.image.ref.name": reference}})
            (self.path / "index.json").write_text(json.dumps(
                {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": self.entries}))
        return manifest.digest


def catalog_layout(path: Path, image_for: Callable[[str], str] = fake_image, *,
                   arches: tuple[str, ...] = ("amd64",)) -> str:
    """The sample catalog as an OCI layout at ``path`` (tag ``v1``); returns the catalog's digest."""
    digest, _ = push_catalog(LayoutWriter(path), "catalog", "v1", catalog_files(image_for), arches=arches)
    return digest
