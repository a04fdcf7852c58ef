"""``mirrorsync release info REF``: what a release image names, as ``oc adm release info`` prints it."""

from __future__ import annotations

import json

from ...registry import reference
from ...sync.manifest import SyncManifest
from .payload import read


def describe_release(ref_text: str, manifest: SyncManifest | None = None, *, auth_file: str | None = None,
                     as_json: bool = False, insecure: bool = False) -> str:
    """What ``release info`` prints of the release ``ref_text``: with the registry settings of ``manifest``, or with
    ``insecure``, TLS unverified and plain HTTP allowed for the release's host."""
    ref = reference.parse(ref_text)
    if not ref.identifier:
        ref = ref.with_tag("latest")
    from ...sync.engines import Clients  # noqa: PLC0415 - the run's clients, as catalog list uses them

    settings = manifest or SyncManifest(file="", mirrors=(), images=())
    if insecure:
        settings = settings.with_insecure(ref.registry)
    clients = Clients.for_run(settings, auth_file=auth_file)
    try:
        release = read(clients.get(ref.registry), ref.repository, ref.identifier or "", where=str(ref))
    finally:
        clients.close()
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
