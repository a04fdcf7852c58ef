"""``mirrorsync release info REF``: what a release image names, as ``oc adm release info`` prints it."""

from __future__ import annotations

import json

from ...registry import auth, reference
from ...registry.client import RegistryClient
from ...registry.proxies import ProxySettings
from ...registry.reference import DEFAULT_REGISTRY, DOCKER_HUB_API_HOST
from ...sync.manifest import SyncManifest
from .payload import read


def describe_release(ref_text: str, manifest: SyncManifest | None = None, *, auth_file: str | None = None,
                     as_json: bool = False) -> str:
    ref = reference.parse(ref_text)
    if not ref.identifier:
        ref = ref.with_tag("latest")
    settings_for = manifest.settings_for if manifest else None
    settings = settings_for(ref.registry) if settings_for else None
    creds = auth.credentials_for(ref.registry, (settings.auth_file if settings else None) or auth_file)
    host = DOCKER_HUB_API_HOST if ref.registry == DEFAULT_REGISTRY else ref.registry
    client = RegistryClient(host, settings=settings, credentials=creds, settings_for=settings_for,
                            proxies=ProxySettings.from_environ())
    try:
        release = read(client, ref.repository, ref.identifier or "", where=str(ref))
    finally:
        client.close()
    if as_json:
        return json.dumps({"image": str(ref), "digest": release.digest, "version": release.version,
                           "previous": list(release.previous),
                           "architecture": "multi" if release.multi else release.architecture,
                           "components": {c.name: str(c.image) for c in release.components}}, indent=2) + "\n"
    width = max((len(c.name) for c in release.components), default=0)
    lines = [f"Name:      {release.version}", f"Digest:    {release.digest}",
             f"Arch:      {'multi' if release.multi else release.architecture}",
             f"Pull From: {ref.name}@{release.digest}", "",
             f"Upgrades: {', '.join(release.previous) or '<none>'}", "",
             f"Images ({len(release.components)}):",
             *(f"  {c.name.ljust(width)}  {c.image}" for c in release.components)]
    return "\n".join(lines) + "\n"
