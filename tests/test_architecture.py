"""The import direction of the house (docs/architecture.md), checked over every module's imports.

Aspects, each over the transitive closure of module-level and function-level imports:

- load generation (``loadtests``) imports no analysis, deploy, controllers or run-pipeline code;
- analysis imports nothing from services, deploy, controllers, the run pipeline or load generation
  (the run-event vocabulary ``schema/events.py`` and the criteria arithmetic ``schema/expressions.py``
  are stdlib-only and allowed);
- the shared service runtime (``services/common``) imports no single service;
- controllers never import services, and services import nothing outside ``services``;
- the checker itself finds a forbidden import when one is planted.
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("analysis", "controllers", "deploy", "loadtests", "orchestration", "schema", "services")


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, pathlib.Path]:
    return {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}


def direct_imports(path: pathlib.Path, known: set[str]) -> set[str]:
    """Project modules a file imports, anywhere in it (function-level imports are dependencies too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def closure(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def graph_of(files: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    known = set(files)
    return {name: direct_imports(path, known) for name, path in files.items()}


GRAPH = graph_of(modules())


def violations(graph: dict[str, set[str]], sources: str, forbidden: tuple[str, ...],
               allowed: tuple[str, ...] = ()) -> list[str]:
    """``source → target`` for each module under ``sources`` that reaches a forbidden module."""
    found = []
    for name in sorted(graph):
        if name != sources and not name.startswith(sources + "."):
            continue
        for target in sorted(closure(name, graph)):
            if target in allowed:
                continue
            if any(target == f or target.startswith(f + ".") for f in forbidden):
                found.append(f"{name} → {target}")
    return found


@pytest.mark.parametrize("sources, forbidden, allowed", [
    pytest.param("loadtests", ("analysis", "deploy", "controllers", "orchestration"), (), id="load-generation"),
    pytest.param("analysis", ("services", "deploy", "controllers", "orchestration", "loadtests", "schema"),
                 ("schema", "schema.events", "schema.expressions"), id="analysis"),
    pytest.param("controllers", ("services",), (), id="controllers"),
    pytest.param("services", ("analysis", "deploy", "controllers", "orchestration", "loadtests", "schema"), (),
                 id="services"),
])
def test_dependencies_point_one_way(sources, forbidden, allowed):
    assert violations(GRAPH, sources, forbidden, allowed) == []


def test_the_shared_runtime_names_no_single_service():
    singles = tuple(f"services.{path.name}" for path in (ROOT / "services").iterdir()
                    if path.is_dir() and path.name not in ("common", "__pycache__"))
    assert singles, "no service packages found"
    assert violations(GRAPH, "services.common", singles) == []


def test_the_checker_finds_a_planted_forbidden_import():
    planted = {"analysis.tables.extract": {"analysis.formulas.queueing"}, "analysis.formulas.queueing": {"helpers"},
               "helpers": {"deploy.local.backend"}, "deploy.local.backend": set()}
    assert violations(planted, "analysis", ("deploy",)) == ["analysis.formulas.queueing → deploy.local.backend",
                                                            "analysis.tables.extract → deploy.local.backend"]
    assert direct_imports(ROOT / "orchestration" / "runner.py", set(GRAPH)) >= {"analysis.presentation.report",
                                                                                 "deploy.local.backend"}
