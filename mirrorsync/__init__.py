"""mirrorsync: keep container image mirrors in sync and write the OpenShift mirror sets that use them.

The Python API (the command line is a thin layer over it; see README "Python API")::

    import mirrorsync

    report = mirrorsync.run("manifest.yaml")            # copies; a failed image is in report.status, not raised
    report.save("out/report.json")
    for file in mirrorsync.render_crs([report]):        # imagedigestmirrorset.yaml, imagetagmirrorset.yaml
        print(file.filename, file.text)
    sets = mirrorsync.load_mirror_sets(["out/cluster-resources"])
    print(mirrorsync.render_registries_conf(sets))
    node = mirrorsync.config_from_mirror_sets(sets)
    print([s.reference for s in mirrorsync.resolve("quay.io/ns/app:1.0", node).sources])
    result = mirrorsync.prune("manifest.yaml", "out/")  # a dry run; apply=True deletes
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> (module, attribute). Loaded on first use, so that the command line starts without the whole library.
_API: dict[str, tuple[str, str]] = {
    "SyncManifest": ("sync.manifest", "SyncManifest"),
    "load_manifest": ("pipeline.sections", "load_manifest"),
    "RunOptions": ("pipeline.runner", "RunOptions"),
    "run": ("pipeline.runner", "run"),
    "Report": ("sync.report", "Report"),
    "load_report": ("sync.report", "load"),
    "render_crs": ("pipeline.outputs", "render_crs"),
    "prune": ("pipeline.prune", "prune"),
    "PruneResult": ("pipeline.prune", "PruneResult"),
    "MirrorSetFile": ("openshift.mirrorsets", "MirrorSetFile"),
    "MirrorSet": ("openshift.crs", "MirrorSet"),
    "load_mirror_sets": ("openshift.crs", "load_mirror_sets"),
    "render_registries_conf": ("openshift.registries_conf", "render_registries_conf"),
    "config_from_mirror_sets": ("openshift.resolve", "config_from_mirror_sets"),
    "resolve": ("openshift.resolve", "resolve"),
    "Resolution": ("openshift.resolve", "Resolution"),
    "PullSource": ("openshift.resolve", "PullSource"),
    "MirrorsyncError": ("errors", "MirrorsyncError"),
    "InputError": ("errors", "InputError"),
}

__all__ = list(_API)

if TYPE_CHECKING:
    from .errors import InputError, MirrorsyncError
    from .openshift.crs import MirrorSet, load_mirror_sets
    from .openshift.mirrorsets import MirrorSetFile
    from .openshift.registries_conf import render_registries_conf
    from .openshift.resolve import PullSource, Resolution, config_from_mirror_sets, resolve
    from .pipeline.outputs import render_crs
    from .pipeline.prune import PruneResult, prune
    from .pipeline.runner import RunOptions, run
    from .pipeline.sections import load_manifest
    from .sync.manifest import SyncManifest
    from .sync.report import Report, load as load_report


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _API[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
