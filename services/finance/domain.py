"""Business rules of the finance department: plain Python, no HTTP or Kafka."""

from __future__ import annotations
