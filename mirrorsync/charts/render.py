"""Rendering a chart with ``helm template`` where a ``helm`` binary is on PATH: the manifests it would install
with its default values and the manifest's ``values``, from which :func:`.images.in_rendered` takes the container
images. Without helm, nothing is rendered (the values are still read, :mod:`.images`).

The archive goes to helm as a file in a temporary directory, removed afterwards; helm reads it itself (it is
never extracted here). Rendering runs without a cluster (``helm template`` never contacts one) and without
network access to chart repositories (``--dependency-update`` is not given; subcharts come from the archive).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import yaml

from .archive import ChartError

TIMEOUT = 120.0
MAX_OUTPUT_BYTES = 64 << 20


def helm_binary() -> str | None:
    return shutil.which("helm")


def render(tgz: bytes, values: dict, *, helm: str | None = None) -> list:
    """The documents ``helm template`` renders from the archive with ``values``; ``ChartError`` if it fails."""
    helm = helm or helm_binary()
    if helm is None:
        raise ChartError("no helm binary on PATH")
    with tempfile.TemporaryDirectory(prefix="mirrorsync-chart-") as tmp:
        chart_path = os.path.join(tmp, "chart.tgz")
        values_path = os.path.join(tmp, "values.yaml")
        with open(chart_path, "wb") as f:
            f.write(tgz)
        with open(values_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(values, f)
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
        env.update({"HELM_CACHE_HOME": os.path.join(tmp, "cache"), "HELM_CONFIG_HOME": os.path.join(tmp, "config"),
                    "HELM_DATA_HOME": os.path.join(tmp, "data")})
        try:
            done = subprocess.run([helm, "template", "mirrorsync", chart_path, "--values", values_path],
                                  capture_output=True, timeout=TIMEOUT, env=env, cwd=tmp, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ChartError(f"helm template: {exc}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ChartError(f"helm template failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    if len(done.stdout) > MAX_OUTPUT_BYTES:
        raise ChartError("helm template rendered more than 64 MiB")
    try:
        return [d for d in yaml.safe_load_all(done.stdout.decode("utf-8", "replace")) if d is not None]
    except yaml.YAMLError as exc:
        raise ChartError(f"helm template rendered no YAML: {str(exc).splitlines()[0]}") from None
