"""Rate limits in the `limits` library's notation ("100/minute", "10/second;600/minute" or "off").

The notation is parsed by `limits`; requests are counted here with a sliding-window counter (the
weighted sum of the previous and the current fixed window, as Cloudflare and `limits` do). A
process runs one event loop, so the counter needs no locks and no expiry thread: a hit is a dict
lookup and a few additions (`limits`' MemoryStorage starts a timer thread every 10 ms under load
and takes a lock per hit). Counters live in this process; with several replicas each enforces its
own. The gateway's limits and marketing's lead form both count with `RateLimiter`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from starlette.exceptions import HTTPException

OFF = "off"


def parse_limit(value: str) -> str:
    """A limit setting, checked at start: ValueError on a notation `limits` does not understand."""
    value = value.strip()
    if value.lower() != OFF:
        parse_many(value)
    return value


@dataclass(slots=True)
class _Count:
    window: int  # index of the current fixed window (now // seconds)
    previous: int
    current: int


class SlidingWindow:
    """One limit (`amount` per `seconds`), counted per key."""

    def __init__(self, amount: int, seconds: int) -> None:
        self.amount = amount
        self.seconds = seconds
        self._counts: dict[str, _Count] = {}
        self._swept = 0

    def _count(self, key: str, window: int) -> _Count:
        count = self._counts.get(key)
        if count is None:
            if window > self._swept:
                self._sweep(window)
            count = self._counts[key] = _Count(window, 0, 0)
        elif count.window != window:
            count.previous = count.current if count.window == window - 1 else 0
            count.current = 0
            count.window = window
        return count

    def _sweep(self, window: int) -> None:
        """Forget keys idle for two windows, at most once per window, so memory stays bounded."""
        self._swept = window
        stale = [key for key, count in self._counts.items() if count.window < window - 1]
        for key in stale:
            del self._counts[key]

    def wait(self, key: str, now: float) -> float:
        """Seconds until one more request fits (0 when it fits now)."""
        window, offset = divmod(now, self.seconds)
        count = self._count(key, int(window))
        elapsed = offset / self.seconds
        if count.previous * (1 - elapsed) + count.current + 1 <= self.amount:
            return 0.0
        if count.current + 1 <= self.amount and count.previous:
            # The previous window's weight must fall until the request fits in this window.
            needed = 1 - (self.amount - count.current - 1) / count.previous
            return max((needed - elapsed) * self.seconds, 0.001)
        # Only in a later window: there this window's count weighs as `previous`.
        needed = 1 - (self.amount - 1) / count.current if count.current else 0.0
        return (1 - elapsed + max(needed, 0.0)) * self.seconds

    def add(self, key: str, now: float) -> None:
        self._count(key, int(now // self.seconds)).current += 1


class RateLimiter:
    """One named limit; `hit(key)` counts a request and answers how long to wait when over."""

    def __init__(self, namespace: str, limit: str) -> None:
        self.namespace = namespace
        self.limit = limit
        items: list[RateLimitItem] = [] if limit.lower() == OFF else parse_many(limit)
        self.windows = tuple(SlidingWindow(item.amount, item.get_expiry()) for item in items)

    @property
    def enabled(self) -> bool:
        return bool(self.windows)

    def hit(self, key: str) -> int | None:
        """None when allowed (and counted); otherwise whole seconds to wait, for Retry-After."""
        if not self.windows:
            return None
        now = time.time()
        wait = max(window.wait(key, now) for window in self.windows)
        if wait > 0:
            return max(1, math.ceil(wait))  # a refused request is not counted
        for window in self.windows:
            window.add(key, now)
        return None

    def enforce(self, key: str, what: str) -> None:
        """Count a request; over the limit, a 429 problem naming the limit, with Retry-After."""
        wait = self.hit(key)
        if wait is not None:
            raise HTTPException(
                429,
                f"too many {what}; allowed {self.limit} per client, retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
