"""The import contracts in pyproject.toml hold, and they do fail when a layer is crossed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and pyproject.toml, to break on purpose."""
    for package in ("hanse", "ops", "services", "gateway"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_repository_keeps_every_import_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("hanse/ids.py", "import services.sales.models", "The kernel imports no department, gateway or tooling"),
        ("hanse/ids.py", "import gateway.app", "The kernel imports no department, gateway or tooling"),
        ("hanse/ids.py", "import ops.cli", "The kernel imports no department, gateway or tooling"),
        ("services/finance/api.py", "import services.sales.models", "A department imports another only"),
        ("services/finance/api.py", "import hanse.outbox", "only through the unit of work"),
        ("services/finance/api.py", "import hanse.mail", "only through the unit of work"),
    ],
)
def test_crossing_a_layer_breaks_the_lint(tree: Path, module: str, line: str, contract: str):
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert contract in result.stdout and "BROKEN" in result.stdout


def _cycle(graph, modules: set[str]) -> list[str] | None:
    """One import cycle among `modules`, or None (depth-first search over direct imports)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module) & modules):
            if state.get(imported) == 1:
                return [*path[path.index(imported) :], imported]
            if imported not in state and (found := visit(imported)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(modules):
        if module not in state and (found := visit(module)):
            return found
    return None


@pytest.mark.parametrize(
    "package",
    [
        "hanse",
        "ops",
        "gateway",
        *(f"services.{d}" for d in ("marketing", "sales", "compliance", "finance", "logistics")),
    ],
)
def test_no_module_imports_itself_round_a_circle(package: str):
    import grimp

    graph = grimp.build_graph("hanse", "ops", "services", "gateway", exclude_type_checking_imports=True)
    modules = {m for m in graph.modules if m == package or m.startswith(package + ".")}
    assert modules, package
    assert _cycle(graph, modules) is None, " -> ".join(_cycle(graph, modules) or [])
