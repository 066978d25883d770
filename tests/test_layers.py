"""The project's shape: the library (attacks, defenses, diffusion, flow, data, models) knows nothing of
the pipeline above it (config files, paths, the plan, the tables); the workflow stays thin."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "src" / "videopure"
LIBRARY = ("attacks", "defenses", "diffusion", "flow", "data", "models", "cache", "machine", "randomness")
PIPELINE = ("config", "params", "paths", "plan", "runtime", "evaluation", "tables", "plots")


def videopure_imports(path: Path) -> set[str]:
    """Every videopure module ``path`` imports, at the top or inside a function."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return {module for module in modules if module.split(".")[0] == "videopure"}


def library_files() -> list[Path]:
    files = []
    for name in LIBRARY:
        module = PACKAGE / f"{name}.py"
        files += [module] if module.exists() else sorted((PACKAGE / name).rglob("*.py"))
    return files


@pytest.mark.parametrize("path", library_files(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_the_library_imports_nothing_from_the_pipeline_layer(path):
    upward = {module for module in videopure_imports(path) if module.split(".")[1] in PIPELINE}
    assert not upward, f"{path.relative_to(REPO)} imports {sorted(upward)} from the pipeline layer"


def test_every_module_of_the_package_is_in_one_layer():
    top = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()}
    top -= {"__init__", "__pycache__"}
    assert top == set(LIBRARY) | set(PIPELINE)


def test_the_workflow_stays_thin():
    """The plan lives in the package (videopure.plan); common.smk keeps validation and wiring, and a
    script is I/O glue around package calls."""
    common = (REPO / "workflow" / "rules" / "common.smk").read_text().splitlines()
    assert len(common) <= 150, len(common)
    scripts = sorted((REPO / "workflow" / "scripts").glob("*.py"))
    long = {path.name: n for path in scripts if (n := len(path.read_text().splitlines())) > 60}
    assert not long, f"workflow scripts over 60 lines: {long}"


def test_the_library_import_walk_sees_an_upward_import(tmp_path):
    """The walk reads imports inside functions too (a lazy import is still a dependency)."""
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from videopure.tables.table1 import build_table1\n    return build_table1\n")
    assert videopure_imports(module) == {"videopure.tables.table1"}
