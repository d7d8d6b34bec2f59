"""Imports go down the data path, never back up: schemas → runtime → producers/sinks →
streams/analytics → cli, and no two modules import each other (directly or round a
loop). Every ``import`` in every module (lazy ones inside functions too) is read with
``ast``; bench/ and tests/ may import anything."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOORS = {"schemas": 0, "runtime": 1, "producers": 2, "sinks": 2, "streams": 3,
          "analytics": 3, "cli": 4}
EXEMPT = {"bench", "tests", "hivemind_kafka"}  # the namespace holds only links to the floors
# (importing module, imported module) pairs that climb, each with the reason it stays.
KNOWN_CLIMBS = {
    # The edge re-runs the codifier's session-independent guard on every skill it writes
    # (issue 12). Moving the guards (with dangers/provenance) below producers/ belongs
    # with the producers regrouping; until then this is the one arrow that climbs.
    ("producers.sync.skill_files", "streams.codifier.guards"),
}


NAMESPACE = "hivemind_kafka."


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every absolute import, named without the ``hivemind_kafka.`` namespace (the
    folders are the floors)."""
    return [(line, module.removeprefix(NAMESPACE)) for line, module in raw_imports(tree)]


def raw_imports(tree: ast.AST) -> list[tuple[int, str]]:
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


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from a import b`` counts ``a.b`` when
    that is a module)."""
    paths = {}
    for path in root.glob("*/**/*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] in FLOORS and ".venv" not in rel.parts:
            paths[".".join(rel.with_suffix("").parts).removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps |= {a.name.removeprefix(NAMESPACE) for a in node.names
                         if a.name.removeprefix(NAMESPACE) in paths}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                module = node.module.removeprefix(NAMESPACE)
                deps |= {m for m in (module, *(f"{module}.{a.name}" for a in node.names))
                         if m in paths}
        graph[name] = deps - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import loops: strongly connected groups of two or more modules."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        order[v] = low[v] = len(order)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in order:
            visit(v)
    return found


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_sees_a_loop_through_lazy_imports(tmp_path):
    (tmp_path / "producers").mkdir()
    (tmp_path / "producers" / "forwarder.py").write_text(
        "if __name__ == '__main__':\n    from producers.daemon import main\n")
    (tmp_path / "producers" / "daemon.py").write_text(
        "def run():\n    from producers.forwarder import Forwarder\n")
    (tmp_path / "producers" / "spool.py").write_text("import producers.private\n")
    (tmp_path / "producers" / "private.py").write_text("import os\n")
    assert cycles(import_graph(tmp_path)) == [["producers.daemon", "producers.forwarder"]]


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


def bare_imports(root: Path = ROOT) -> list[str]:
    """Imports of a folder by its bare name (``from schemas.events import ...``) anywhere in
    the tree, tests and bench included: installed, only ``hivemind_kafka.<folder>`` exists,
    and in a checkout the bare name would load a second copy of the module."""
    out = []
    for path in sorted(root.glob("*/**/*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in {".venv", "hivemind_kafka"}:
            continue
        for line, module in raw_imports(ast.parse(path.read_text(), str(path))):
            if module.split(".")[0] in FLOORS:
                out.append(f"{rel}:{line} {module}")
    return out


def test_every_import_goes_through_the_namespace():
    assert bare_imports() == []


def test_the_namespace_walker_sees_a_bare_import(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "x.py").write_text("from hivemind_kafka.schemas import events\n"
                                             "def f():\n    import runtime.kafka\n")
    assert bare_imports(tmp_path) == ["tests/x.py:3 runtime.kafka"]


def test_the_namespace_maps_every_folder():
    """hivemind_kafka/<folder> is each floor's folder (a symlink in the checkout)."""
    for folder in FLOORS:
        link = ROOT / "hivemind_kafka" / folder
        assert link.resolve() == (ROOT / folder).resolve(), folder
