"""What the gateway's modules keep on `app.state`, made on first use (a test may set it beforehand)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import FastAPI

T = TypeVar("T")


def state_of(app: FastAPI, name: str, make: Callable[[], T]) -> T:
    """`app.state.<name>`, set to `make()` when nothing is there yet."""
    found = getattr(app.state, name, None)
    if found is None:
        found = make()
        setattr(app.state, name, found)
    return found
