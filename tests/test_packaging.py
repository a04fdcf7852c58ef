"""What ``pip install .`` puts in the wheel: all of mirrorsync, and none of the development tools."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from setuptools.config.pyprojecttoml import read_configuration

ROOT = Path(__file__).resolve().parents[1]


def _packages() -> list[str]:
    """The packages setuptools builds the wheel from, found the way a build finds them (pyproject's
    ``[tool.setuptools.packages.find]``, expanded)."""
    cwd = os.getcwd()
    os.chdir(ROOT)  # setuptools expands package discovery relative to the working directory
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "[tool.setuptools] is still beta": not our concern here
            return read_configuration(ROOT / "pyproject.toml", expand=True)["tool"]["setuptools"]["packages"]
    finally:
        os.chdir(cwd)


def test_the_wheel_holds_every_mirrorsync_package():
    on_disk = sorted(".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "mirrorsync").rglob("__init__.py"))
    assert "mirrorsync.registry" in on_disk and "mirrorsync.openshift" in on_disk
    assert sorted(_packages()) == on_disk


def test_demo_and_benchmark_helpers_are_not_installed():
    packages = _packages()
    assert not any(p == "devtools" or p.startswith(("devtools.", "tests", "scripts")) for p in packages)
    assert not list((ROOT / "mirrorsync").rglob("samples.py")) and not list((ROOT / "mirrorsync").rglob("devregistry.py"))
