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
        ("services/finance/api.py", "import hanse.outbox", "reach the outbox only through the unit of work"),
    ],
)
def test_crossing_a_layer_breaks_the_lint(tree: Path, module: str, line: str, contract: str):
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert contract in result.stdout and "BROKEN" in result.stdout
