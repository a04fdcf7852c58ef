"""What a conversion produced, and its rendering as manifest text with the comments on what was not carried over."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..sync import manifest as manifest_mod


@dataclass
class Conversion:
    """The manifest's content, and what could not be carried over (``FILE:LINE: field: why`` lines)."""

    source_format: str
    mirrors: list[str]
    registries: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: list[dict[str, Any]] = field(default_factory=list)
    platform: dict[str, Any] | None = None  # an ImageSetConfiguration's releases
    operators: list[dict[str, Any]] = field(default_factory=list)
    charts: dict[str, Any] | None = None  # an ImageSetConfiguration's Helm charts
    notes: list[tuple[int, str]] = field(default_factory=list)  # (input line, text)
    # converted path -> the input path it came from, so that the manifest loader's refusal of the converted text
    # can name the input's line and field (a user never sees the converted text's lines)
    origins: dict[tuple, tuple] = field(default_factory=dict)

    def render(self, input_file: str) -> str:
        lines = [f"# Converted by `mirrorsync convert` from {one_line(input_file)} ({self.source_format})."]
        if self.notes:
            lines.append(f"# Not carried over ({len(self.notes)}):")
            lines += [f"#   {one_line(note)}" for _, note in sorted(self.notes, key=lambda n: n[0])]
        doc: dict[str, Any] = {"apiVersion": manifest_mod.API_VERSION, "kind": manifest_mod.KIND,
                               "mirrors": self.mirrors}
        if self.registries:
            doc["registries"] = self.registries
        if self.images or (self.platform is None and not self.operators and not self.charts):
            doc["images"] = self.images
        if self.platform is not None:
            doc["platform"] = self.platform
        if self.operators:
            doc["operators"] = self.operators
        if self.charts:
            doc["charts"] = self.charts
        return "\n".join(lines) + "\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False,
                                                        allow_unicode=True, width=120)


def one_line(text: str) -> str:
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
