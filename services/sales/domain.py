"""Business rules of the sales department: plain Python, no HTTP or Kafka."""

from __future__ import annotations
