"""Release signatures for disconnected clusters: read from a signature store (``<store>/sha256=<hex>/signature-<n>``,
n from 1, as mirror.openshift.com serves them) or a local directory laid out like one, and written as the ConfigMap
``oc adm release mirror`` writes: one per release, named ``sha256-<hex>`` in ``openshift-config-managed``, labelled
``release.openshift.io/verification-signatures``, ``binaryData`` keys ``sha256-<hex>-<n>``.
"""

from __future__ import annotations

import base64
import contextlib
import os

import httpx

from ...errors import MirrorsyncError, NotFound, describe
from ...registry.retry import RetryPolicy
from ...registry.settings import RegistrySettings
from ...registry.web import WebReader
from ..goyaml import dump_yaml_documents

FILENAME = "release-signatures.yaml"  # in cluster-resources/
NAMESPACE = "openshift-config-managed"
LABEL = "release.openshift.io/verification-signatures"
MAX_SIGNATURES = 16  # a release has one or two; a store that never ends is not followed further
MAX_SIGNATURE_BYTES = 64 << 10


class SignatureError(MirrorsyncError):
    """The signature store could not be read (not: it has no signature for a release)."""


def key_prefix(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}-{hexpart}"


def read(location: str, digest: str, *, web: WebReader | None = None, settings_for=lambda host: RegistrySettings(),
         policy: RetryPolicy | None = None, timeout: float = 60.0) -> dict[str, bytes]:
    """The signature files of ``digest`` in the store, keyed ``sha256-<hex>-<n>``; empty when it has none.

    A store URL is read through ``web``, the run's reader, or one made from ``settings_for``, ``policy`` and
    ``timeout``."""
    algorithm, _, hexpart = digest.partition(":")
    out: dict[str, bytes] = {}
    if not location.startswith(("http://", "https://")):
        if not os.path.isdir(location):
            raise SignatureError(f"signature store {location} is not a directory")
        for n in range(1, MAX_SIGNATURES + 1):
            path = os.path.join(location, f"{algorithm}={hexpart}", f"signature-{n}")
            try:
                with open(path, "rb") as f:
                    data = f.read(MAX_SIGNATURE_BYTES + 1)
            except FileNotFoundError:
                break
            except OSError as exc:
                raise SignatureError(f"cannot read {path}: {exc.strerror or exc}") from None
            if len(data) > MAX_SIGNATURE_BYTES:
                raise SignatureError(f"{path} is more than {MAX_SIGNATURE_BYTES >> 10} KiB, not a signature")
            out[f"{key_prefix(digest)}-{n}"] = data
        return out
    base = location.rstrip("/")
    with contextlib.ExitStack() as owned:
        if web is None:
            web = owned.enter_context(WebReader(settings_for=settings_for, policy=policy, timeout=timeout))
        for n in range(1, MAX_SIGNATURES + 1):
            url = f"{base}/{algorithm}={hexpart}/signature-{n}"
            try:
                out[f"{key_prefix(digest)}-{n}"] = web.get(url, action=f"reading signature {url}",
                                                            limit=MAX_SIGNATURE_BYTES, kind="a signature")
            except NotFound:
                break
            except (MirrorsyncError, httpx.HTTPError) as exc:
                raise SignatureError(describe(exc)) from None
    return out


def config_map(digest: str, signatures: dict[str, bytes]) -> dict:
    """The ConfigMap a cluster reads this release's signatures from."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": key_prefix(digest), "namespace": NAMESPACE, "labels": {LABEL: ""}},
            "binaryData": {k: base64.b64encode(v).decode() for k, v in signature_files(signatures)}}


def signature_files(signatures: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """The signature files keyed ``sha256-<hex>-<n>``, in the order of n."""
    return sorted(signatures.items(), key=_n)


def config_maps_yaml(releases: dict[str, dict[str, bytes]]) -> str:
    """One ConfigMap per release digest that has signatures, sorted by digest; empty text when none has."""
    return dump_yaml_documents(config_map(d, s) for d, s in sorted(releases.items()) if s)


def _n(item: tuple[str, bytes]) -> tuple[int, str]:
    tail = item[0].rsplit("-", 1)[-1]
    return (int(tail) if tail.isdigit() else 1 << 30, item[0])
