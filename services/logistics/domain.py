"""Business rules of the logistics department: plain Python, no HTTP or Kafka."""

from __future__ import annotations
