"""Opaque ids that sort by creation time (so keyset pages list oldest first) and cannot be guessed."""

from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last = 0


def new_id(prefix: str = "") -> str:
    """`<prefix>_<16 hex of ns, strictly increasing in this process><16 random hex>`."""
    global _last
    with _lock:
        _last = max(time.time_ns(), _last + 1)
        stamp = _last
    return f"{prefix}_{stamp:016x}{secrets.token_hex(8)}" if prefix else f"{stamp:016x}{secrets.token_hex(8)}"
