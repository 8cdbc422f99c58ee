"""The gateway's own tables (its own database): identity, event timeline, webhooks."""

from __future__ import annotations

from hanse.db import model_base

Model = model_base("gateway")

# Table modules register themselves on Model's metadata when imported.
from gateway.models import events, identity, webhooks  # noqa: E402,F401
