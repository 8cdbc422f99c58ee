"""Console pages of this area (being built: see docs/console.md)."""

from __future__ import annotations

from web.core import ConsoleRouter

router = ConsoleRouter()
