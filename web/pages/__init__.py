"""The console's pages, one module per area; each has a `router` (a `ConsoleRouter`) and registers
its sections in `web.nav` at import, so the order here is the order of the navigation."""

from __future__ import annotations

from web.pages import admin, compliance, finance, home, logistics, marketing, orders, procurement, support

AREAS = (home, orders, support, compliance, logistics, finance, marketing, procurement, admin)
