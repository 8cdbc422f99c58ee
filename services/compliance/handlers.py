"""How the compliance department reacts to other departments' events."""

from __future__ import annotations

from hanse.consumer import Handler

HANDLERS: dict[str, Handler] = {}
