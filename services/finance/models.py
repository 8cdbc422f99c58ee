"""Tables of the finance service (its own database) and their API schemas."""

from __future__ import annotations

from hanse.db import model_base

Model = model_base("finance")
