"""The images a chart deploys, found in its values: the conventional value paths, the manifest's ``imagePaths``,
and what its templates reference that the values leave unset (a warning, never a silent gap).

Conventional paths, anywhere in the values (``image``, ``controller.image``, a list of components each with an
``image``): a string ``image: repo[:tag|@digest]``; or a mapping ``image: {registry, repository, tag, digest}``
whose tag defaults to the chart's ``appVersion`` (``{{ .Values.image.tag | default .Chart.AppVersion }}``, the
convention ``helm create`` writes). A subchart's values are its own ``values.yaml`` with the parent's
``<subchart name>:`` and ``global:`` values over them, as Helm merges them; a subchart the values disable (its
dependency's ``condition`` or ``tags``) is not looked at, as Helm does not render it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..registry import reference
from .archive import Chart
from .dependencies import enabled_subcharts

IMAGE_KEY = "image"
FOUND_IN_VALUES = "values"
FOUND_BY_IMAGE_PATHS = "imagePaths"
FOUND_RENDERED = "rendered"
_VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


@dataclass(frozen=True)
class FoundImage:
    image: str  # the reference as the chart gives it, normalised (docker.io/library/nginx:1.25)
    found_by: str  # values, imagePaths or rendered
    where: str  # the chart (and subchart) and value path: "mychart: controller.image"

    def to_dict(self) -> dict:
        return {"image": self.image, "foundBy": self.found_by, "where": self.where}


def merge(base: dict, over: dict) -> dict:
    """``over`` deep-merged onto ``base`` (mappings merged, anything else replaced; ``null`` deletes a key)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def chart_values(chart: Chart, given: dict, warnings: list[str] | None = None) -> list[tuple[str, Chart, dict]]:
    """(where, chart, its values) for the chart and every subchart its values enable (a dependency's ``condition``
    and ``tags``, :mod:`.dependencies`), with ``given`` over the chart's own; what cannot be told into
    ``warnings``."""
    out = []
    warnings = warnings if warnings is not None else []

    def walk(c: Chart, values: dict, where: str, tags: dict) -> None:
        out.append((where, c, values))
        parent_global = values.get("global") if isinstance(values.get("global"), dict) else {}
        for name, sub in enabled_subcharts(c, values, tags, where, warnings):
            own = values.get(name) if isinstance(values.get(name), dict) else {}
            sub_values = merge(sub.values, own)
            if parent_global:
                sub_values["global"] = merge(sub_values.get("global") or {}, parent_global)
            sub_tags = sub_values.get("tags") if isinstance(sub_values.get("tags"), dict) else {}
            walk(sub, sub_values, f"{where}/charts/{name}", merge(sub_tags, tags))

    top = merge(chart.values, given)
    walk(chart, top, chart.name, top.get("tags") if isinstance(top.get("tags"), dict) else {})
    return out


def image_text(value: Any, app_version: str) -> tuple[str | None, str | None]:
    """(reference text, None) for an image value, (None, why) when it names no complete image, (None, None) when
    it is no image value at all."""
    if isinstance(value, str):
        return (value, None) if value.strip() else (None, "empty")
    if not isinstance(value, dict) or "repository" not in value:
        return None, None
    repo = value.get("repository")
    if not isinstance(repo, str) or not repo:
        return None, "repository is empty"
    registry = value.get("registry")
    name = f"{registry.rstrip('/')}/{repo}" if isinstance(registry, str) and registry else repo
    digest, tag = value.get("digest"), value.get("tag")
    if isinstance(digest, str) and digest:
        return f"{name}@{digest}", None
    if tag not in (None, ""):
        return f"{name}:{tag}", None
    if app_version:
        return f"{name}:{app_version}", None
    return None, "no tag or digest, and the chart has no appVersion"


def at_path(values: dict, dotted: str) -> tuple[bool, Any]:
    """(set, value) at a dotted path of the values."""
    node: Any = values
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _normalised(text: str) -> str:
    ref = reference.parse(text)
    if not ref.tag and not ref.digest:
        ref = reference.Reference(ref.registry, ref.repository, tag="latest")
    return str(ref)


def in_values(chart: Chart, given: dict, image_paths: tuple[str, ...]) -> tuple[list[FoundImage], list[str]]:
    """(images, warnings): every image the values name at conventional paths and at ``image_paths`` (tried on
    the chart and each subchart), and a warning for each path that names no complete image, each ``imagePaths``
    entry found nowhere, and each ``.Values....image`` a template references that the values leave unset."""
    found: dict[str, FoundImage] = {}
    warnings: list[str] = []

    def add(value: Any, where: str, path: str, by: str, app_version: str, *, required: bool) -> bool:
        text, why = image_text(value, app_version)
        if text is None:
            if why is not None or required:
                warnings.append(f"chart {where}: value {path} names no image ({why or 'not an image value'})")
            return False
        try:
            image = _normalised(text)
        except InputError as exc:
            warnings.append(f"chart {where}: value {path} is no image reference ({exc.message})")
            return False
        found.setdefault(image, FoundImage(image, by, f"{where}: {path}"))
        return True

    every = chart_values(chart, given, warnings)
    for where, c, values in every:
        for path, value in _image_values(values, ""):
            add(value, where, path, FOUND_IN_VALUES, c.app_version, required=False)
    for path in image_paths:
        hit = False
        for where, c, values in every:
            is_set, value = at_path(values, path)
            if is_set:
                hit = add(value, where, path, FOUND_BY_IMAGE_PATHS, c.app_version, required=True) or hit
        if not hit and not any(path in w for w in warnings):
            warnings.append(f"chart {chart.name}: imagePaths {path} is not set in the values")
    for where, c, values in every:
        for path in sorted(referenced_image_paths(c)):
            if not at_path(values, path)[0]:
                warnings.append(f"chart {where}: a template references .Values.{path}, which the values leave "
                                "unset: its image is not known")
    return list(found.values()), warnings


def _image_values(node: Any, path: str):
    """(dotted path, value) of every ``image`` key in the values, in lists too."""
    if isinstance(node, dict):
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            if key == IMAGE_KEY:
                yield sub, value
            else:
                yield from _image_values(value, sub)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _image_values(value, f"{path}.{i}")


def referenced_image_paths(chart: Chart) -> set[str]:
    """The value paths up to an ``image`` component (``controller.image``) that the chart's templates read."""
    out = set()
    for text in chart.templates.values():
        for m in _VALUES_REF.finditer(text):
            parts = m.group(1).lstrip(".").split(".")
            if IMAGE_KEY in parts:
                out.add(".".join(parts[:parts.index(IMAGE_KEY) + 1]))
    return out


def in_rendered(documents: list[Any], chart_name: str) -> list[FoundImage]:
    """Every container image of the rendered manifests (``image:`` strings in ``containers``,
    ``initContainers`` and ``ephemeralContainers`` of any pod template)."""
    found: dict[str, FoundImage] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(value, list):
                    for i, container in enumerate(value):
                        image = container.get(IMAGE_KEY) if isinstance(container, dict) else None
                        if isinstance(image, str) and image.strip():
                            try:
                                text = _normalised(image.strip())
                            except InputError:
                                continue
                            found.setdefault(text, FoundImage(text, FOUND_RENDERED,
                                                              f"{chart_name}: {path}.{key}[{i}].image"))
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    for n, doc in enumerate(documents):
        kind = doc.get("kind") if isinstance(doc, dict) else None
        walk(doc, f"{kind or 'document'}#{n}")
    return list(found.values())
