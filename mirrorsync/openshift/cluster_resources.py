"""Where the objects meant for a cluster go: ``OUTPUT_DIR/cluster-resources/``, holding nothing else.

``oc apply -f DIR`` sends every ``.yaml``, ``.yml`` and ``.json`` file of a directory to the API server, so the
report, metrics and anything meant for a person sit outside this directory. ``oc apply -k DIR``, Argo CD and Flux
read the kustomization in it, which lists exactly the files mirrorsync wrote there. It is named ``Kustomization``
(the third file name kustomize accepts, beside ``kustomization.yaml`` and ``.yml``): without a YAML extension,
``oc apply -f`` skips it; as ``kustomization.yaml`` it would be sent to the API server, which has no kind
``Kustomization``, and fail the apply.

Earlier versions wrote the mirror set files directly into the output directory. A write here removes those, after
the new files are in place, so that no tool applies an object twice; and readers (``registries-conf``, ``resolve``)
given an output directory of either layout find the objects in it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path

from ..atomicfile import write_atomic
from ..errors import InputError
from .crs import MirrorSet, load_mirror_sets, parse_mirror_sets
from .drain import DRAIN, Verdict, compare
from .mirrorsets import FILENAMES, MirrorSetFile
from .object_dirs import DIRECTORY, directory, object_dir  # noqa: F401 - part of this module's interface

KUSTOMIZATION = "Kustomization"
# Every file mirrorsync may write into the directory, besides the kustomization; names never change between runs,
# so that a Git diff of the directory shows only what changed. The earlier layout had the same names directly in
# the output directory.
LEGACY_FILES = tuple(FILENAMES.values())  # what the earlier layout wrote; the sections add theirs (``owned``)
# The files ``oc apply -f DIR`` sends to the API server.
KUBECTL_EXTENSIONS = (".yaml", ".yml", ".json")


def kustomization(filenames: Iterable[str]) -> str:
    """The kustomization text listing ``filenames`` (sorted: stable bytes from run to run)."""
    names = sorted(filenames)
    resources = "resources:\n" + "".join(f"  - {n}\n" for n in names) if names else "resources: []\n"
    return ("# Written by mirrorsync: every object in this directory, for `oc apply -k` and GitOps tools.\n"
            "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\n" + resources)


def write(output_dir: str | Path, files: Iterable[MirrorSetFile], *, owned: Iterable[str] = (),
          notify: Callable[[str], None] = lambda message: None) -> list[Path]:
    """Replace the cluster resources of ``output_dir`` with ``files``; returns the paths written.

    Each file is replaced atomically. The order keeps every intermediate state applicable: the new object files
    first, then the kustomization naming them, then the removal of ours that this run does not write (such as an
    ImageContentSourcePolicy of an earlier run with ``--icsp``; ``owned``: the file names besides the mirror sets'
    that mirrorsync may write here), and last the files of the earlier layout.
    ``notify`` gets one line for each file of the earlier layout removed, and for each file in the directory that
    ``oc apply -f`` would send but mirrorsync did not write.
    """
    out = Path(output_dir)
    target = directory(out)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for f in files:
        write_atomic(target / f.filename, f.text)
        written.append(target / f.filename)
    names = {p.name for p in written}
    write_atomic(target / KUSTOMIZATION, kustomization(names))
    written.append(target / KUSTOMIZATION)
    for stale in dict.fromkeys(LEGACY_FILES + tuple(owned)):
        if stale not in names:
            with contextlib.suppress(FileNotFoundError):
                (target / stale).unlink()
    for legacy in LEGACY_FILES:
        old = out / legacy
        if old.is_file():
            old.unlink()
            now = f"now {target / legacy}" if legacy in names else "this run writes no such objects"
            notify(f"removed {old}, a file of the earlier output layout ({now}); apply {target}/ from now on")
    for other in sorted(target.iterdir()):
        if other.is_file() and other.suffix in KUBECTL_EXTENSIONS and other.name not in names:
            notify(f"{other} is not mirrorsync's: `oc apply -f` would apply it but the {KUSTOMIZATION} does not "
                   f"list it; keep other files out of {target}/")
    return written


def _mirror_sets_in(output_dir: Path) -> list[MirrorSet]:
    """The mirror sets mirrorsync's files in ``output_dir`` hold now (cluster-resources/, else the earlier
    layout); other files there are not mirrorsync's to judge."""
    target = directory(output_dir)
    where = target if target.is_dir() else output_dir
    return load_mirror_sets([p for name in LEGACY_FILES if (p := where / name).is_file()])


def apply_verdict(output_dir: str | Path, files: Iterable[MirrorSetFile]) -> Verdict:
    """What applying ``files`` in place of the mirror sets ``output_dir`` holds now does to the nodes (see
    :mod:`.drain`): the cluster is taken to have applied the directory's current files and nothing else."""
    new_sets = [ms for f in files if f.filename in LEGACY_FILES for ms in parse_mirror_sets(f.text, file=f.filename)]
    try:
        old_sets = _mirror_sets_in(Path(output_dir))
        return compare(old_sets, new_sets).verdict
    except InputError as exc:
        # Hand-edited or foreign files: what the nodes have now is unknown, so assume the worst.
        return Verdict(DRAIN, (f"the mirror sets now in the output directory cannot be compared: {exc}",))
