"""Generate sample images and push them to a registry, for demos, benchmarks and tests.

This is the test oracle: it talks to registries with plain httpx calls and builds manifests by hand,
sharing no code with mirrorsync's own registry client, so a bug there cannot hide in both. Content is
deterministic for a given seed (same Python and zlib): real gzip'd tar layers of seeded random bytes, OCI
image manifests and indexes, Docker schema2 manifests and manifest lists, and OCI artifacts with a subject.
Each image's first layer is a base layer shared by every repository and tag of the same architecture.

CLI: ``python -m devtools.samples --registry 127.0.0.1:PORT --repos 2 --tags 2 --insecure`` prints a JSON
report of what it pushed.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import random
import re
import ssl
import sys
import tarfile
from collections.abc import Generator, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SAMPLE_ARTIFACT_TYPE = "application/vnd.mirrorsync.sample.sbom+json"

Kind = Literal["oci", "oci-index", "docker", "docker-list"]
KINDS: tuple[Kind, ...] = ("oci", "oci-index", "docker", "docker-list")

_CREATED = "2024-01-01T00:00:00Z"
_TAR_MTIME = 1704067200  # _CREATED as a Unix time


class SampleError(RuntimeError):
    """A registry refused something the sample pusher sent."""


@dataclass(frozen=True)
class Blob:
    """Bytes with a media type: a layer, a config or a manifest."""

    media_type: str
    data: bytes = field(repr=False)

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the bytes."""
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        """Length in bytes."""
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        """An OCI/Docker descriptor for these bytes, with ``extra`` fields (``platform``, ``annotations``)."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class Platform:
    """An os/architecture[/variant] triple as written in indexes and configs."""

    architecture: str
    os: str = "linux"
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``amd64``, ``arm/v7``, ``linux/arm64`` or ``linux/arm/v7``."""
        parts = text.split("/")
        if len(parts) == 1 or (len(parts) == 2 and parts[1].startswith("v") and parts[1][1:].isdigit()):
            parts = ["linux", *parts]
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"not a platform: {text!r}")
        return cls(os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def as_json(self) -> dict[str, str]:
        """The ``platform`` object of an index entry."""
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out


@dataclass(frozen=True)
class PushedImage:
    """What one push made: the tag (or None), the top-level digest, and everything below it.

    ``children`` maps platform strings (``linux/amd64``) to child manifest digests for indexes and lists;
    ``blobs`` holds every config and layer digest referenced, first-seen order.
    """

    registry: str
    repository: str
    tag: str | None
    digest: str
    media_type: str
    size: int
    children: dict[str, str] = field(default_factory=dict)
    blobs: tuple[str, ...] = ()
    subject: str | None = None

    @property
    def reference(self) -> str:
        """``host/repo:tag`` if tagged, else ``host/repo@digest``."""
        return f"{self.registry}/{self.repository}" + (f":{self.tag}" if self.tag else f"@{self.digest}")

    @property
    def digest_reference(self) -> str:
        """``host/repo@digest``."""
        return f"{self.registry}/{self.repository}@{self.digest}"

    @property
    def manifests(self) -> tuple[str, ...]:
        """The top-level digest followed by the children's."""
        return (self.digest, *self.children.values())


@dataclass
class SeedResult:
    """Everything one ``seed_registry`` call pushed."""

    registry: str
    images: list[PushedImage]

    @property
    def tags(self) -> dict[str, str]:
        """``repo:tag`` -> digest for every tagged image."""
        return {f"{i.repository}:{i.tag}": i.digest for i in self.images if i.tag}

    @property
    def blobs(self) -> set[str]:
        """Every config and layer digest."""
        return {b for i in self.images for b in i.blobs}

    @property
    def manifests(self) -> set[str]:
        """Every manifest digest, top-level and child."""
        return {m for i in self.images for m in i.manifests}

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready report."""
        return {"registry": self.registry, "tags": self.tags, "images": [asdict(i) for i in self.images]}


# ---- content ------------------------------------------------------------------------------------------------

def _rng(*key: object) -> random.Random:
    return random.Random(hashlib.sha256("/".join(map(str, key)).encode()).digest())


def make_layer(key: str, size: int, *, docker: bool = False) -> tuple[Blob, str]:
    """A gzip'd tar holding one file of ``size`` random bytes seeded by ``key``; returns (blob, diff_id)."""
    payload = _rng("layer", key).randbytes(size)
    info = tarfile.TarInfo(f"mirrorsync-sample/{hashlib.sha256(key.encode()).hexdigest()[:16]}.bin")
    info.size, info.mtime, info.mode = size, _TAR_MTIME, 0o644
    info.uname = info.gname = "root"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    # mtime=0 keeps the gzip header free of the current time. Level 0 (stored deflate blocks, still valid gzip):
    # random bytes do not shrink anyway, and searching them for matches makes level 1 sixteen times slower.
    compressed = gzip.compress(tar_bytes, compresslevel=0, mtime=0)
    blob = Blob(DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP, compressed)
    return blob, "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def make_files_layer(files: Mapping[str, bytes], *, docker: bool = False) -> tuple[Blob, str]:
    """A gzip'd tar holding ``files`` (path -> contents, in order; a ``.wh.<name>`` path is a whiteout, as in any
    layer) with fixed metadata; returns (blob, diff_id). For images whose files are read: releases, catalogs."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), _TAR_MTIME, 0o644
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    blob = Blob(DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP, gzip.compress(tar_bytes, mtime=0))
    return blob, "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def make_config(platform: Platform, diff_ids: Sequence[str], *, docker: bool = False, label: str = "") -> Blob:
    """An image config for ``platform`` over layers with ``diff_ids``."""
    config: dict[str, Any] = {
        "created": _CREATED,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Labels": {"org.opencontainers.image.title": label}},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        # the module's old name, kept: it is in every sample config, so it fixes the sample digests
        "history": [{"created": _CREATED, "created_by": f"mirrorsync.samples layer {n}"}
                    for n in range(len(diff_ids))],
    }
    if platform.variant:
        config["variant"] = platform.variant
    return Blob(DOCKER_CONFIG if docker else OCI_CONFIG, _json(config))


def make_manifest(config: Blob, layers: Sequence[Blob], *, docker: bool = False,
                  subject: Blob | dict[str, Any] | None = None, artifact_type: str | None = None,
                  annotations: dict[str, str] | None = None) -> Blob:
    """An OCI image manifest, or a Docker schema2 manifest if ``docker`` (which has no subject/artifactType)."""
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        manifest["artifactType"] = artifact_type
    config_descriptor = config.descriptor()
    if config.media_type == OCI_EMPTY:
        config_descriptor["data"] = base64.b64encode(config.data).decode()
    manifest["config"] = config_descriptor
    manifest["layers"] = [layer.descriptor() for layer in layers]
    if subject is not None:
        manifest["subject"] = subject.descriptor() if isinstance(subject, Blob) else dict(subject)
    if annotations:
        manifest["annotations"] = annotations
    return Blob(media_type, _json(manifest))


def make_index(children: Sequence[tuple[Blob, Platform]], *, docker: bool = False,
               annotations: dict[str, str] | None = None) -> Blob:
    """An OCI image index, or a Docker manifest list if ``docker``, over (manifest, platform) pairs."""
    media_type = DOCKER_MANIFEST_LIST if docker else OCI_INDEX
    index: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type,
                             "manifests": [m.descriptor(platform=p.as_json()) for m, p in children]}
    if annotations and not docker:
        index["annotations"] = annotations
    return Blob(media_type, _json(index))


def _json(value: Any) -> bytes:
    # Pushed bytes are hashed as they are; a fixed serialisation keeps digests stable for a seed.
    return json.dumps(value, indent=2, sort_keys=False).encode() + b"\n"


# ---- pushing ------------------------------------------------------------------------------------------------

_REPO_IN_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:blobs|manifests|tags)/")


class _ChallengeAuth(httpx.Auth):
    """Answers Basic and Bearer challenges, caching one bearer token per repository."""

    requires_response_body = True

    def __init__(self, username: str | None, password: str | None) -> None:
        credentials = f"{username}:{password or ''}".encode()
        self._basic = f"Basic {base64.b64encode(credentials).decode()}" if username else None
        self._use_basic = False
        self._tokens: dict[str, str] = {}
        self.tokens_fetched = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        match = _REPO_IN_PATH.match(request.url.path)
        repo = match["name"] if match else ""
        if self._use_basic and self._basic:
            request.headers["Authorization"] = self._basic
        elif repo in self._tokens:
            request.headers["Authorization"] = f"Bearer {self._tokens[repo]}"
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = _parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic" and self._basic:
            self._use_basic = True
            request.headers["Authorization"] = self._basic
            yield request
        elif scheme == "bearer" and "realm" in params:
            query = {k: params[k] for k in ("service", "scope") if k in params}
            token_request = httpx.Request("GET", params["realm"], params=query)
            if self._basic:
                token_request.headers["Authorization"] = self._basic
            token_response = yield token_request
            if token_response.status_code != 200:
                raise SampleError(f"token server {params['realm']} answered {token_response.status_code}: "
                                  f"{token_response.text[:300]}")
            body = token_response.json()
            self._tokens[repo] = body.get("token") or body["access_token"]
            self.tokens_fetched += 1
            request.headers["Authorization"] = f"Bearer {self._tokens[repo]}"
            yield request


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}


class SamplePusher:
    """Pushes blobs and manifests to one registry with plain httpx; a context manager.

    ``registry`` is ``host:port`` (HTTPS, or plain HTTP with ``insecure``) or a full ``http(s)://`` URL.
    ``ca_cert`` verifies TLS, ``client_cert`` is (cert, key) for mTLS, ``username``/``password`` answer Basic
    and Bearer (token) challenges.
    """

    def __init__(self, registry: str, *, insecure: bool = False, ca_cert: Path | str | None = None,
                 client_cert: tuple[Path | str, Path | str] | None = None, username: str | None = None,
                 password: str | None = None, timeout: float = 120.0) -> None:
        if "://" in registry:
            self.url = registry.rstrip("/")
            self.host = registry.split("://", 1)[1].rstrip("/")
        else:
            self.url, self.host = ("http://" if insecure else "https://") + registry, registry
        verify: Any = True
        if self.url.startswith("https://"):
            verify = ssl.create_default_context(cafile=str(ca_cert) if ca_cert else None)
            if client_cert:
                verify.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
        self.auth = _ChallengeAuth(username, password)
        self._client = httpx.Client(verify=verify, timeout=timeout, auth=self.auth)
        self.blobs_uploaded = 0
        self.blobs_skipped = 0

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __enter__(self) -> SamplePusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def push_blob(self, repository: str, blob: Blob) -> None:
        """Upload ``blob`` unless the repository has it (POST upload, then monolithic PUT ?digest=)."""
        head = self._client.head(f"{self.url}/v2/{repository}/blobs/{blob.digest}")
        if head.status_code == 200:
            self.blobs_skipped += 1
            return
        start = self._client.post(f"{self.url}/v2/{repository}/blobs/uploads/")
        self._check(start, 202, f"starting upload of {blob.digest} to {repository}")
        location = start.headers["Location"]
        if location.startswith("/"):
            location = self.url + location
        # httpx replaces a URL's query when given params=, which would drop the registry's _state parameter.
        put = self._client.put(httpx.URL(location).copy_add_param("digest", blob.digest), content=blob.data,
                               headers={"Content-Type": "application/octet-stream"})
        self._check(put, 201, f"uploading {blob.digest} to {repository}")
        self.blobs_uploaded += 1

    def push_manifest(self, repository: str, reference: str, manifest: Blob) -> str:
        """PUT ``manifest`` under a tag or its digest; returns the digest, checked against the registry's."""
        response = self._client.put(f"{self.url}/v2/{repository}/manifests/{reference}", content=manifest.data,
                                    headers={"Content-Type": manifest.media_type})
        self._check(response, 201, f"pushing manifest {repository}:{reference}")
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != manifest.digest:
            raise SampleError(f"registry stored {repository}:{reference} as {answered}, "
                              f"but its bytes hash to {manifest.digest}")
        return manifest.digest

    @staticmethod
    def _check(response: httpx.Response, expected: int, what: str) -> None:
        if response.status_code != expected:
            raise SampleError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")


def push_image(pusher: SamplePusher, repository: str, tag: str | None, *, kind: Kind = "oci-index",
               arches: Iterable[str] = ("amd64", "arm64"), layers: int = 2, layer_size: int = 1024,
               seed: int = 0, shared_base: bool = True) -> PushedImage:
    """Build and push one image; ``tag=None`` pushes by digest only.

    ``oci``/``docker`` push one manifest for the first of ``arches``; ``oci-index``/``docker-list`` push a
    child per architecture, then the index. Each manifest has ``layers`` layers of ``layer_size`` random
    bytes; with ``shared_base`` the first is the same for every repository and tag of that architecture.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    platforms = [Platform.parse(a) for a in arches]
    if not platforms:
        raise ValueError("at least one architecture is needed")
    docker = kind.startswith("docker")
    multi = kind in ("oci-index", "docker-list")
    name = f"{repository}:{tag}" if tag else repository
    blobs: dict[str, None] = {}
    children: list[tuple[Blob, Platform]] = []
    for platform in platforms if multi else platforms[:1]:
        layer_blobs, diff_ids = [], []
        for n in range(layers):
            key = f"{seed}/base/{platform}" if n == 0 and shared_base else f"{seed}/{name}/{kind}/{platform}/{n}"
            layer, diff_id = make_layer(key, layer_size, docker=docker)
            pusher.push_blob(repository, layer)
            layer_blobs.append(layer)
            diff_ids.append(diff_id)
        config = make_config(platform, diff_ids, docker=docker, label=f"{name} {platform} seed {seed}")
        pusher.push_blob(repository, config)
        blobs.update(dict.fromkeys([config.digest, *(b.digest for b in layer_blobs)]))
        children.append((make_manifest(config, layer_blobs, docker=docker), platform))

    if not multi:
        manifest = children[0][0]
        pusher.push_manifest(repository, tag or manifest.digest, manifest)
        return PushedImage(pusher.host, repository, tag, manifest.digest, manifest.media_type, manifest.size,
                           blobs=tuple(blobs))
    for child, _ in children:
        pusher.push_manifest(repository, child.digest, child)
    index = make_index(children, docker=docker)
    pusher.push_manifest(repository, tag or index.digest, index)
    return PushedImage(pusher.host, repository, tag, index.digest, index.media_type, index.size,
                       children={str(p): c.digest for c, p in children}, blobs=tuple(blobs))


def push_artifact(pusher: SamplePusher, subject: PushedImage, *, tag: str | None = None,
                  artifact_type: str = SAMPLE_ARTIFACT_TYPE, seed: int = 0) -> PushedImage:
    """Push an OCI artifact (empty config, one JSON layer) whose ``subject`` is ``subject``, in its repository.

    ``tag=None`` pushes by digest only, as referrers usually are.
    """
    document = {"sample": "sbom", "subject": subject.digest, "seed": seed,
                "packages": [f"pkg-{_rng('sbom', seed, subject.digest).randrange(10**6)}"]}
    payload = Blob(artifact_type, _json(document))
    empty = Blob(OCI_EMPTY, b"{}")
    for blob in (empty, payload):
        pusher.push_blob(subject.repository, blob)
    subject_descriptor = {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size}
    manifest = make_manifest(empty, [payload], subject=subject_descriptor, artifact_type=artifact_type,
                             annotations={"org.opencontainers.image.created": _CREATED})
    pusher.push_manifest(subject.repository, tag or manifest.digest, manifest)
    return PushedImage(pusher.host, subject.repository, tag, manifest.digest, manifest.media_type, manifest.size,
                       blobs=(empty.digest, payload.digest), subject=subject.digest)


def seed_registry(pusher: SamplePusher, *, repos: int = 2, tags: int = 2, kind: Kind = "oci-index",
                  arches: Iterable[str] = ("amd64", "arm64"), layers: int = 2, layer_size: int = 1024,
                  seed: int = 0, prefix: str = "sample", artifacts: bool = False) -> SeedResult:
    """Push ``repos`` repositories ``{prefix}/repo-N`` with ``tags`` tags ``v1``.. each (see ``push_image``).

    With ``artifacts`` every image also gets an untagged artifact whose subject it is.
    """
    arches = list(arches)
    images = []
    for r in range(1, repos + 1):
        for t in range(1, tags + 1):
            image = push_image(pusher, f"{prefix}/repo-{r}", f"v{t}", kind=kind, arches=arches, layers=layers,
                               layer_size=layer_size, seed=seed)
            images.append(image)
            if artifacts:
                images.append(push_artifact(pusher, image, seed=seed))
    return SeedResult(pusher.host, images)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m devtools.samples``: seed a registry and print a JSON report of what was pushed."""
    parser = argparse.ArgumentParser(prog="python -m devtools.samples", description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", required=True, help="host:port, or an http(s):// URL")
    parser.add_argument("--repos", type=int, default=2)
    parser.add_argument("--tags", type=int, default=2)
    parser.add_argument("--arches", default="amd64,arm64", help="comma-separated, e.g. amd64,arm64,arm/v7")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--layer-size", type=int, default=1024, help="uncompressed bytes per layer")
    parser.add_argument("--kind", choices=KINDS, default="oci-index")
    parser.add_argument("--prefix", default="sample", help="repositories are PREFIX/repo-N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--artifacts", action="store_true", help="also push an artifact referring to each image")
    parser.add_argument("--insecure", action="store_true", help="plain HTTP")
    parser.add_argument("--ca-cert", type=Path, help="CA bundle to verify the registry's TLS certificate")
    parser.add_argument("--username")
    parser.add_argument("--password")
    args = parser.parse_args(argv)
    try:
        with SamplePusher(args.registry, insecure=args.insecure, ca_cert=args.ca_cert, username=args.username,
                          password=args.password) as pusher:
            result = seed_registry(pusher, repos=args.repos, tags=args.tags, kind=args.kind,
                                   arches=[a for a in args.arches.split(",") if a], layers=args.layers,
                                   layer_size=args.layer_size, seed=args.seed, prefix=args.prefix,
                                   artifacts=args.artifacts)
            print(f"pushed {len(result.images)} manifests ({pusher.blobs_uploaded} blobs uploaded, "
                  f"{pusher.blobs_skipped} already there) to {pusher.host}", file=sys.stderr)
    except (SampleError, httpx.HTTPError, ValueError) as exc:
        print(f"devtools.samples: {exc}", file=sys.stderr)
        return 1
    json.dump(result.as_json(), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
