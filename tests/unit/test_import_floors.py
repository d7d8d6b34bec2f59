"""Imports go down the data path, never back up: schemas → runtime → producers/sinks →
streams/analytics → cli. Every ``import`` in every module (lazy ones inside functions
too) is read with ``ast``; bench/ and tests/ may import anything."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOORS = {"schemas": 0, "runtime": 1, "producers": 2, "sinks": 2, "streams": 3,
          "analytics": 3, "cli": 4}
EXEMPT = {"bench", "tests"}
# (importing module, imported module) pairs that climb, each with the reason it stays.
KNOWN_CLIMBS = {
    # The edge re-runs the codifier's session-independent guard on every skill it writes
    # (issue 12). Moving the guards (with dangers/provenance) below producers/ belongs
    # with the producers regrouping; until then this is the one arrow that climbs.
    ("producers.skill_files", "streams.codifier.guards"),
}


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def climbs(root: Path = ROOT) -> list[str]:
    """``path:line importer -> imported`` for every import that goes up a floor."""
    out = []
    for path in sorted(root.glob("*/**/*.py")):
        rel = path.relative_to(root)
        floor = FLOORS.get(rel.parts[0])
        if floor is None or ".venv" in rel.parts:
            continue
        importer = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        for line, module in imported_modules(ast.parse(path.read_text(), str(path))):
            top = module.split(".")[0]
            if top == rel.parts[0] or top not in FLOORS or FLOORS[top] < floor:
                continue
            if (importer, module) not in KNOWN_CLIMBS:
                out.append(f"{rel}:{line} {importer} -> {module}")
    return out


def test_no_import_climbs_a_floor():
    assert climbs() == []


def test_every_top_level_package_has_a_floor():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - EXEMPT <= set(FLOORS), "give the new package a floor in FLOORS"


def test_known_climbs_still_exist():
    """An allowed climb that was fixed must leave the list (or it hides a new one)."""
    for importer, module in KNOWN_CLIMBS:
        path = ROOT / (importer.replace(".", "/") + ".py")
        assert module in {m for _, m in imported_modules(ast.parse(path.read_text()))}


@pytest.mark.parametrize(("importer", "source", "bad"), [
    ("sinks/writer.py", "from streams.codifier.library import Library\n", True),
    ("schemas/x.py", "def f():\n    import runtime.kafka\n", True),  # lazy imports count
    ("producers/x.py", "import cli.main\n", True),
    ("streams/x.py", "from sinks.tables import TABLES\nimport schemas.skills\n", False),
    ("cli/x.py", "from analytics import report\n", False),
    ("producers/x.py", "from . import spool\nfrom producers import private\n", False),
])
def test_the_walker_catches_a_climb(tmp_path, importer, source, bad):
    path = tmp_path / importer
    path.parent.mkdir(parents=True)
    path.write_text(source)
    assert bool(climbs(tmp_path)) is bad
