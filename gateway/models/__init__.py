"""The gateway's own tables (its own database): identity, event timeline, webhooks."""

from __future__ import annotations

# Importing the table modules registers them on Model's metadata (migrations compare against it).
from gateway.models import events, identity, webhooks  # noqa: F401
from gateway.models.base import Model

__all__ = ["Model"]
