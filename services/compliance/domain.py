"""Business rules of the compliance department: plain Python, no HTTP or Kafka."""

from __future__ import annotations
