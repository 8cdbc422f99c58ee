"""Which processes make up the platform and where they listen by default."""

from __future__ import annotations

DEPARTMENTS: tuple[str, ...] = ("marketing", "sales", "compliance", "finance", "logistics")

# Offsets from HANSE_SERVICE_PORT_BASE (default 8100): marketing 8101 ... logistics 8105.
PORT_OFFSETS: dict[str, int] = {name: i + 1 for i, name in enumerate(DEPARTMENTS)}


def service_port(name: str, base: int = 8100) -> int:
    return base + PORT_OFFSETS[name]


def contract_module(name: str) -> str:
    return f"services.{name}.contract"


def app_path(name: str) -> str:
    return "gateway.app:app" if name == "gateway" else f"services.{name}.app:app"
