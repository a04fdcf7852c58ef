"""The rooms depend on each other one way: the registry client and the content model know nothing of the sync
pipeline, the OpenShift resources, the air gap or the command line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mirrorsync"
# what each room may import from the others (errors, atomicfile and yamlsource at the top are shared by all)
ALLOWED = {"oci": set(), "registry": {"oci"}}


def imported_rooms(path: Path) -> set[str]:
    """The top-level parts of mirrorsync that a module (one folder deep) imports."""
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level >= 2:  # from ..x import y: x is another part
            rooms |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("mirrorsync."):
            rooms.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            rooms |= {a.name.split(".")[1] for a in node.names if a.name.startswith("mirrorsync.")}
    return rooms


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_a_room_imports_only_the_rooms_below_it(room):
    others = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} - {room}
    for path in sorted((PACKAGE / room).rglob("*.py")):
        wrong = (imported_rooms(path) & others) - ALLOWED[room]
        assert not wrong, f"{path.relative_to(PACKAGE)} imports {sorted(wrong)}"
