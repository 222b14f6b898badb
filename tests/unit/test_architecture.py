"""The architecture, checked: the package layers, no import cycles, and SQL only where it belongs.

Read from the source with `ast`, so an import inside a function counts the same as one at the top: a cycle hidden
in a function is still a cycle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOVERNANCE = ROOT / "governance"

# Lowest first. A module may import from its own package and from the layers below it, never from above.
LAYERS = [{"kernel"}, {"record"}, {"access"}, {"monitoring"}, {"evidence"}, {"decisions"}, {"alerts", "reports"},
          {"demo", "cli"}]
LAYER_OF = {package: depth for depth, packages in enumerate(LAYERS) for package in packages}

# Where SQL may be written: the record's repositories, the telemetry query module, and the stores' own engines
# (migrations, data versions; PostgreSQL's copies into DuckDB and the lake's files).
SQL_HOMES = ("governance/record/repositories/", "governance/monitoring/telemetry_sql.py",
             "governance/record/store.py", "governance/record/postgres_store.py", "governance/record/lake.py",
             "governance/record/workspace_copy.py")
SQL = re.compile(r"\b(SELECT\b.+\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                 r"CREATE\s+(OR\s+REPLACE\s+)?(TEMP\s+|TEMPORARY\s+)?(TABLE|VIEW|INDEX|SEQUENCE)|ALTER\s+TABLE|"
                 r"DROP\s+(TABLE|VIEW)|ATTACH\b|COPY\s+\w+\s+(FROM|TO))", re.S)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in GOVERNANCE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every governance module this file imports, at the top or inside a function."""
    found = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # a relative import, from the package `level - 1` steps up
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("governance."):
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (GOVERNANCE / parts[1]).is_dir()) else "kernel"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules around it, or None."""
    state, stack = {}, []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target.endswith("__main__"):
                continue
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_every_package_has_a_layer():
    packages = {_package(name) for name in _modules()}
    assert packages <= set(LAYER_OF), f"put {sorted(packages - set(LAYER_OF))} in LAYERS"


def test_no_module_imports_from_a_higher_layer():
    upward = sorted(f"{source} imports {target}" for source, targets in _graph().items() for target in targets
                    if not source.endswith("__main__")
                    and LAYER_OF[_package(target)] > LAYER_OF[_package(source)])
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_no_import_cycles_even_inside_functions():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _text_of(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's with each replacement field as {} (SQL built around table names)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
    return None


def _sql_outside_homes(paths) -> list[str]:
    found = []
    for path in paths:
        where = path.relative_to(ROOT).as_posix()
        if where.startswith(SQL_HOMES):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = _text_of(node)
            if text is None or not SQL.search(text):
                continue
            place = f"{where}:{node.lineno}"
            if not any(f.startswith(place + ":") for f in found):
                found.append(f"{place}: {text.strip().splitlines()[0][:80]}")
    return found


def _application_files():
    yield from GOVERNANCE.rglob("*.py")
    for folder in ("pages", "components", "api"):
        yield from (ROOT / folder).rglob("*.py")
    yield from (ROOT / name for name in ("app.py", "server.py"))


def test_sql_lives_only_in_the_repositories_and_the_telemetry_query_module():
    found = _sql_outside_homes(_application_files())
    assert not found, "SQL outside the repositories and governance/monitoring/telemetry_sql.py:\n" + "\n".join(found)


def test_the_sql_check_finds_sql(tmp_path):
    probe = ROOT / "governance" / "probe_for_the_sql_check.py"
    try:
        probe.write_text('QUERY = """\n    SELECT count(*)\n    FROM ledger"""\nNOTE = "select a model"\n'
                         'TABLE = "risk_event"\nBUILT = f"DELETE FROM {TABLE} WHERE seq = ?"\n')
        assert [line.split(": ", 1)[0] for line in _sql_outside_homes([probe])] == [
            "governance/probe_for_the_sql_check.py:1", "governance/probe_for_the_sql_check.py:6"]
    finally:
        probe.unlink()
