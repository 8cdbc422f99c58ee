"""Gateway tables: events."""

from __future__ import annotations
