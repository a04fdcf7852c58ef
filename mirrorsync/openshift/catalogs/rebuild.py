"""The filtered catalog as a new image on top of the original, for every platform of a multi-arch catalog.

One layer is added to each platform's image: an opaque whiteout of the configs directory (what lower layers put
there is gone; this layer's files stay), the filtered FBC, and a whiteout of the pre-built cache (``/tmp/cache``,
or the ``--cache-dir`` of the image's command). A cache that no longer matches ``/configs`` fails opm's integrity
check when the catalog pod starts (a known oc-mirror bug), so the command keeps ``--cache-dir`` and gets
``--cache-enforce-integrity=false``: opm builds the cache from the new configs at start.

Everything is built deterministically (fixed tar metadata, gzip without a time stamp, stable JSON), so the same
filter over the same catalog gives the same digest: a second run finds it on the mirror and pushes nothing.
The original image's layers must already be in the target repository (the original is copied there first).
"""

from __future__ import annotations

import io
import posixpath
import tarfile

from ...oci import image_build
from ...oci.image_build import BuiltImage as Rebuilt, NewLayer, gzip_layer, tar_entry as _info
from ...oci.store import ContentStore
from .fbc import CONFIGS_LABEL, DEFAULT_CONFIGS, CatalogError

DEFAULT_CACHE = "/tmp/cache"
OPAQUE = ".wh..wh..opq"
HISTORY = "mirrorsync: the filtered catalog replaces the configs directory; the pre-built cache is removed"


def configs_root(config: dict) -> str:
    """The configs directory an image's label names, without the leading ``/``."""
    labels = (config.get("config") or {}).get("Labels") or {}
    root = posixpath.normpath("/" + str(labels.get(CONFIGS_LABEL) or DEFAULT_CONFIGS)).lstrip("/")
    if not root:  # replacing it would wipe the whole image
        raise CatalogError(f"the image's {CONFIGS_LABEL} label names the root directory, not a configs directory")
    return root


def command(config: dict) -> list[str]:
    c = config.get("config") or {}
    return [str(x) for x in (c.get("Entrypoint") or []) + (c.get("Cmd") or [])]


def cache_dir(config: dict) -> str:
    """The pre-built cache directory: the command's ``--cache-dir``, else opm's usual ``/tmp/cache``."""
    args = command(config)
    for i, arg in enumerate(args):
        if arg.startswith("--cache-dir="):
            return arg.split("=", 1)[1] or DEFAULT_CACHE
        if arg == "--cache-dir" and i + 1 < len(args):
            return args[i + 1]
    return DEFAULT_CACHE


def new_cmd(config: dict, root: str) -> list[str]:
    """The command that serves the new configs: the original one without cache-integrity flags, plus
    ``--cache-enforce-integrity=false`` where it names a cache directory; ``serve /<root>`` when it had none."""
    cmd = [str(x) for x in (config.get("config") or {}).get("Cmd") or []]
    if "serve" not in command(config):
        return ["serve", "/" + root, f"--cache-dir={DEFAULT_CACHE}", "--cache-enforce-integrity=false"]
    out, skip = [], False
    for i, arg in enumerate(cmd):
        if skip:
            skip = False
            continue
        if arg.startswith("--cache-enforce-integrity") or arg == "--cache-only":
            skip = arg == "--cache-enforce-integrity" and i + 1 < len(cmd) and cmd[i + 1] in ("true", "false")
            continue
        out.append(arg)
    if any(a == "--cache-dir" or a.startswith("--cache-dir=") for a in command(config)):
        out.append("--cache-enforce-integrity=false")
    return out


def filtered_layer(files: dict[str, bytes], root: str, cache: str) -> tuple[bytes, str]:
    """The gzip'd layer (bytes, diff_id): the configs directory made opaque, the filtered FBC, the cache
    whited out. Whiteouts come before the files, for unpackers that apply entries in order. Directories that
    exist below (the configs root, the cache's parent such as ``/tmp``) get no entry of their own: one would
    replace their owner and mode, and a root-owned 0755 ``/tmp`` keeps opm, running as another user, from
    writing its cache."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs_done: set[str] = {root}

        def add_dir(path: str) -> None:
            parts = path.split("/")
            for n in range(1, len(parts) + 1):
                d = "/".join(parts[:n])
                if d and d not in dirs_done:
                    dirs_done.add(d)
                    tar.addfile(_info(d, tarfile.DIRTYPE, 0o755))

        def add_file(path: str, data: bytes) -> None:
            info = _info(path, tarfile.REGTYPE, 0o644)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add_file(posixpath.join(root, OPAQUE), b"")
        cache = posixpath.normpath("/" + cache).lstrip("/")
        if cache and not (cache + "/").startswith(root + "/"):
            parent, name = posixpath.split(cache)
            add_file(posixpath.join(parent, ".wh." + name), b"")
        for path in sorted(files):
            add_dir(posixpath.dirname(path))
            add_file(path, files[path])
    return gzip_layer(raw.getvalue())


def build(store: ContentStore, repo: str, digest: str, files_for_root) -> Rebuilt:
    """The filtered catalog image over the original at ``digest`` in ``store``/``repo``; ``files_for_root(root)``
    gives the filtered FBC files below a configs root."""
    def layer_for(config: dict) -> NewLayer:
        root = configs_root(config)
        blob, diff_id = filtered_layer(files_for_root(root), root, cache_dir(config))
        return NewLayer(blob, diff_id, HISTORY, new_cmd(config, root))
    return image_build.build_over(store, repo, digest, layer_for)


def push(store: ContentStore, repo: str, rebuilt: Rebuilt, tag: str) -> str:
    """Push the rebuilt catalog to ``store``/``repo`` and tag it: ``"up-to-date"`` or ``"pushed"``."""
    return image_build.push(store, repo, rebuilt, tag)
