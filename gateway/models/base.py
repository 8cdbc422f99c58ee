"""The gateway's declarative base: every gateway table registers on `Model.metadata`."""

from __future__ import annotations

from hanse.db import model_base

Model = model_base("gateway")
