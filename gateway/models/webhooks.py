"""Gateway tables: webhooks."""

from __future__ import annotations
