"""Business rules of the marketing department: plain Python, no HTTP or Kafka."""

from __future__ import annotations
