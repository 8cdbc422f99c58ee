"""docs/configuration.md lists every environment variable the code reads, with its real default."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from services import DEPARTMENTS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "configuration.md").read_text()
PACKAGES = ("hanse", "ops", "services", "gateway")


def settings_classes() -> list[type[BaseSettings]]:
    found = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            # Apps build themselves on import and migrations run Alembic; neither declares settings.
            if info.name.endswith(".app") or ".migrations" in info.name:
                continue
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, BaseSettings) and value.__module__ == info.name:
                    found.append(value)
    return found


def settings_variables() -> dict[str, object]:
    variables = {}
    for cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):  # the first choice is the variable's documented name
                alias = next((c for c in alias.choices if isinstance(c, str) and c.isupper()), None)
            env = alias if isinstance(alias, str) else f"{prefix}{name}".upper()
            variables[env] = field.get_default(call_default_factory=True)
    return variables


def variables_in_source() -> set[str]:
    names = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            names |= set(
                re.findall(r"\b(HANSE_[A-Z][A-Z_]*[A-Z]|KAFKA_BOOTSTRAP_SERVERS|DATABASE_URL)\b", path.read_text())
            )
    return names


def documented(name: str) -> bool:
    return f"`{name}`" in DOC


def test_every_setting_is_documented_with_its_default():
    variables = settings_variables()
    assert "HANSE_JWT_SECRET" in variables and "KAFKA_BOOTSTRAP_SERVERS" in variables
    for name, default in variables.items():
        assert documented(name), f"{name} is read by a settings class but missing from docs/configuration.md"
        row = next(line for line in DOC.splitlines() if line.startswith(f"| `{name}`"))
        if isinstance(default, (int, float, str)) and not isinstance(default, bool) and default not in ("", None):
            shown = str(default)
            assert shown in row or shown.rstrip("0").rstrip(".") in row, f"{name}: default {shown!r} not in {row!r}"


def test_every_variable_named_in_the_code_is_documented():
    missing = sorted(name for name in variables_in_source() if not documented(name))
    assert not missing, f"read by the code but missing from docs/configuration.md: {missing}"
    for dept in DEPARTMENTS:
        assert documented(f"HANSE_{dept.upper()}_URL")
