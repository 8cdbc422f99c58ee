"""The platform's departments: their names, ports and published contracts.

Each department owns its database and publishes the events in its `contract.py`. This package
init is the one place that lists them; the gateway and `ops` read it, the kernel never does.
"""

from __future__ import annotations

import os
from functools import cache
from types import ModuleType

from hanse.events import EventRegistry
from hanse.settings import Settings

# The order gives the ports: marketing 8101 ... procurement 8106 (HANSE_SERVICE_PORT_BASE + n).
DEPARTMENTS: tuple[str, ...] = ("marketing", "sales", "compliance", "finance", "logistics", "procurement")


def service_port(name: str, base: int = 8100) -> int:
    return base + DEPARTMENTS.index(name) + 1


def service_url(settings: Settings, name: str) -> str:
    """Where a department listens: HANSE_<NAME>_URL, else 127.0.0.1 on its port."""
    override = os.environ.get(f"HANSE_{name.upper()}_URL")
    return override or f"http://127.0.0.1:{service_port(name, settings.service_port_base)}"


def contracts() -> dict[str, ModuleType]:
    """Every department's contract module, by department, and the gateway's (its privacy answers)."""
    from gateway import contract as gateway
    from services.compliance import contract as compliance
    from services.finance import contract as finance
    from services.logistics import contract as logistics
    from services.marketing import contract as marketing
    from services.procurement import contract as procurement
    from services.sales import contract as sales

    return {
        "marketing": marketing,
        "sales": sales,
        "compliance": compliance,
        "finance": finance,
        "logistics": logistics,
        "procurement": procurement,
        "gateway": gateway,
    }


@cache
def event_registry() -> EventRegistry:
    """Every event type any department publishes (the gateway's timeline, webhooks and catalogue)."""
    return EventRegistry.from_contracts(contracts())
