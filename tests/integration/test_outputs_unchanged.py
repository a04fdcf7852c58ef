"""The outputs users rely on are byte for byte what they were before the package was laid out in subpackages.

A deterministic sync (seeded sample images, fixed repository names, fresh registries) through the real command:
``--help`` texts, ``plan``, ``run`` (stdout, report.json, every file of the output directory), ``generate``,
``registries-conf``, ``resolve``, ``migrate-icsp`` and ``verify``; one image at a time, so that order and byte
counts are fixed. Ephemeral ports, temporary paths and times are normalised; all else must equal the golden files
in tests/data/golden/, recorded from the flat layout (see its README.md).
``MIRRORSYNC_RECORD_GOLDEN=1`` rewrites them instead of comparing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from support.cli import mirrorsync, registry_settings, write_manifest

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
RECORD = os.environ.get("MIRRORSYNC_RECORD_GOLDEN") == "1"
# Fixed terminal width and no colour: --help is laid out by rich from these.
ENV = {"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1", "MIRRORSYNC_RETRY_WAIT": "0.05"}
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
# migrate-icsp names its files with random digits, as oc does
RANDOM_NAME = re.compile(r"(imagedigestmirrorset_[^/\s]*?)\.\d+\.yaml")
SECONDS = re.compile(r'("(?:seconds|durationSeconds|elapsedSeconds|duration)": )[0-9.e-]+')


def _normalised(text: str, names: dict[str, str]) -> str:
    for actual, placeholder in names.items():
        text = text.replace(actual, placeholder)
    text = RANDOM_NAME.sub(r"\1.N.yaml", TIME.sub("<time>", text))
    return SECONDS.sub(r"\1<seconds>", text)


def _check(name: str, text: str, names: dict[str, str]) -> None:
    path = GOLDEN / name
    text = _normalised(text, names)
    if RECORD:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert text == path.read_text(), f"{name} differs from {path}"


def _cli(names: dict[str, str], name: str, *args: str, code: int = 0) -> None:
    result = mirrorsync(*args, env=ENV)
    assert result.returncode == code, result.stderr
    _check(f"{name}.stdout", result.stdout, names)
    _check(f"{name}.stderr", result.stderr, names)


def test_outputs_are_the_recorded_ones(make_registry, seed, tmp_path):
    source, mirror = make_registry("source"), make_registry("mirror")
    names = {source.host: "SOURCE", mirror.host: "MIRROR", str(tmp_path): "TMP"}
    seed(source, "golden/app", "1.0.0", kind="oci-index", seed=1)
    seed(source, "golden/app", "1.1.0", kind="oci-index", seed=2)
    seed(source, "golden/app", "2.0.0-rc.1", kind="oci-index", seed=3)
    seed(source, "golden/tool", "v1", kind="docker-list", seed=4)
    pinned = seed(source, "golden/base", None, kind="oci", arches=("amd64",), seed=5)
    manifest = write_manifest(
        tmp_path / "manifest.yaml", mirrors=[f"{mirror.host}/mirror"],
        registries={source.host: registry_settings(source), mirror.host: registry_settings(mirror)},
        images=[{"source": f"{source.host}/golden/app", "semver": ">=1.0.0 <2.0.0"},
                {"source": f"{source.host}/golden/tool", "tags": ["v1"]},
                {"source": f"{source.host}/golden/base", "digests": [pinned.digest]}])
    out = tmp_path / "out"

    for command in ("", "run", "plan", "generate", "registries-conf", "resolve", "diff", "migrate-icsp", "convert",
                    "export", "import", "verify"):
        _cli(names, f"help-{command or 'mirrorsync'}", *([command] if command else []), "--help")
    _cli(names, "plan", "plan", str(manifest))
    _cli(names, "run", "run", str(manifest), "--output-dir", str(out), "--concurrency", "1")
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        _check(f"out/{path.relative_to(out)}", path.read_text(), names)

    generated = tmp_path / "generated"
    _cli(names, "generate", "generate", str(out / "report.json"), "--output-dir", str(generated), "--icsp")
    for path in sorted(p for p in generated.rglob("*") if p.is_file()):
        _check(f"generated/{path.relative_to(generated)}", path.read_text(), names)
    crs = [str(p) for p in sorted(generated.rglob("*.yaml"))]
    _cli(names, "registries-conf", "registries-conf", *crs)
    _cli(names, "resolve", "resolve", f"{source.host}/golden/app:1.1.0", *crs)
    _cli(names, "resolve-json", "resolve", "--output", "json", f"{source.host}/golden/base@{pinned.digest}", *crs)
    icsps = [p for p in crs if "imagecontentsourcepolicy" in Path(p).name.lower()]
    migrated = tmp_path / "migrated"
    migrated.mkdir()
    _cli(names, "migrate-icsp", "migrate-icsp", *icsps, "--dest-dir", str(migrated))
    for path in sorted(migrated.iterdir()):
        _check("migrated/" + _normalised(path.name, names), path.read_text(), names)
    _cli(names, "verify", "verify", str(manifest))
