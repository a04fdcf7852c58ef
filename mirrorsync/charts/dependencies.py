"""Which subcharts a chart's values enable, as Helm decides before rendering (pkg/chartutil
``ProcessDependencies``): a dependency of Chart.yaml is on unless its ``tags`` or its ``condition`` say otherwise.

- ``tags``: looked up in the top chart's ``tags:`` values (a subchart's own ``tags:`` under them). Off when none
  of the dependency's tags is true and one is false; on otherwise (none set: on).
- ``condition``: comma-separated value paths, relative to the chart whose Chart.yaml lists the dependency; the
  first that is set to a boolean decides, over the tags. A path set to something else is a warning (as Helm's)
  and the next is tried; one that is not set is skipped.
- A subchart that no dependency names is always on; a dependency with an ``alias`` is the subchart under that
  name (its values under it). A dependency is matched to a subchart in ``charts/`` by name (Helm also checks the
  version range; a chart carries the subchart its lock file chose).
"""

from __future__ import annotations

from typing import Any

from .archive import Chart


def _path_value(values: dict, dotted: str) -> tuple[bool, Any]:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _enabled(dep: dict, values: dict, tags: dict, where: str, warnings: list[str]) -> bool:
    name = dep.get("alias") or dep.get("name")
    on = True
    dep_tags = dep.get("tags") if isinstance(dep.get("tags"), list) else []
    given = [tags[t] for t in dep_tags if isinstance(t, str) and t in tags]
    for t in dep_tags:
        if isinstance(t, str) and t in tags and not isinstance(tags[t], bool):
            warnings.append(f"chart {where}: tag {t!r} for subchart {name} is no boolean: not counted")
    if True not in given and False in given:
        on = False
    for path in str(dep.get("condition") or "").strip().split(","):
        path = path.strip()
        if not path:
            continue
        is_set, value = _path_value(values, path)
        if not is_set:
            continue
        if isinstance(value, bool):
            return value
        warnings.append(f"chart {where}: condition {path!r} for subchart {name} is no boolean: not counted")
    return on


def enabled_subcharts(chart: Chart, values: dict, tags: dict, where: str,
                      warnings: list[str]) -> list[tuple[str, Chart]]:
    """(name, subchart) of each subchart of ``chart`` its values (``values``, the chart's merged values) and the
    top chart's ``tags`` leave on, under the name its values live at (the alias, else its own)."""
    deps = [d for d in chart.metadata.get("dependencies") or [] if isinstance(d, dict) and d.get("name")]
    named = {str(d["name"]) for d in deps}
    out = [(sub.name, sub) for sub in chart.subcharts if sub.name not in named]
    for dep in deps:
        sub = next((s for s in chart.subcharts if s.name == str(dep["name"])), None)
        if sub is not None and _enabled(dep, values, tags, where, warnings):
            out.append((str(dep.get("alias") or sub.name), sub))
    return out
