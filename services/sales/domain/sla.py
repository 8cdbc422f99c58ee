"""Support SLA clocks: business hours in the buyer's time zone, skipping weekends and public holidays (no I/O).

A clock counts Monday to Friday, 09:00 to 17:00 wall-clock time in the buyer's zone, except the
public holidays of the buyer's country (`holidays` package). Wall-clock windows are turned into
UTC instants day by day, so a DST change moves the window, never its length in business hours.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays
from babel.core import get_global

from hanse.errors import Conflict

Priority = Literal["low", "normal", "high", "urgent"]
TicketStatus = Literal["open", "pending", "resolved", "closed"]

OPENS, CLOSES = time(9, 0), time(17, 0)
# Business hours to the first response and to resolution, per priority.
TARGETS: dict[str, tuple[int, int]] = {"urgent": (2, 8), "high": (4, 16), "normal": (8, 40), "low": (16, 80)}
# A clock never looks further than this for business hours (a country of holidays is a bug, not a loop).
HORIZON_DAYS = 3660

# Countries spanning several zones: the zone most of their business runs on (babel lists them alphabetically).
MAIN_ZONE = {
    "US": "America/New_York",
    "CA": "America/Toronto",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "RU": "Europe/Moscow",
    "MX": "America/Mexico_City",
    "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty",
    "AR": "America/Argentina/Buenos_Aires",
    "CL": "America/Santiago",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "CN": "Asia/Shanghai",
    "MN": "Asia/Ulaanbaatar",
    "CD": "Africa/Kinshasa",
    "UA": "Europe/Kyiv",
    "EC": "America/Guayaquil",
    "MY": "Asia/Kuala_Lumpur",
    "NZ": "Pacific/Auckland",
    "KI": "Pacific/Tarawa",
    "DE": "Europe/Berlin",
}


def check_timezone(name: str) -> str:
    """An IANA zone name zoneinfo knows (`Asia/Tokyo`); anything else is a ValueError (422 naming the field)."""
    if name not in _zones():
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin, Asia/Tokyo)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone") from None
    return name


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_for(country: str, timezone: str | None = None) -> str:
    """The buyer's zone: the account's own, else its country's main zone, else UTC."""
    if timezone:
        return timezone
    # Only zones this system's tz database has (an old one may lack a renamed zone such as Europe/Kyiv).
    candidates = [MAIN_ZONE.get(country), *(get_global("territory_zones").get(country) or [])]
    return next((zone for zone in candidates if zone and zone in _zones()), "UTC")


@functools.cache
def _holidays(country: str, year: int) -> frozenset[date]:
    try:
        return frozenset(holidays.country_holidays(country, years=year).keys())
    except NotImplementedError:  # a country the package does not know: weekends only
        return frozenset()


def is_business_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(country, day.year)


def _window(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """That day's opening hours as UTC instants (wall-clock 09:00-17:00 in the zone)."""
    opens = datetime.combine(day, OPENS, tzinfo=zone).astimezone(UTC)
    closes = datetime.combine(day, CLOSES, tzinfo=zone).astimezone(UTC)
    return opens, closes


def add_business_hours(start: datetime, hours: float, zone_name: str, country: str) -> datetime:
    """The UTC instant `hours` business hours after `start` in the buyer's zone and country."""
    zone = ZoneInfo(zone_name)
    start = start.astimezone(UTC)
    remaining = timedelta(hours=hours)
    day = start.astimezone(zone).date()
    for _ in range(HORIZON_DAYS):
        if is_business_day(day, country):
            opens, closes = _window(day, zone)
            begin = max(start, opens)
            if begin < closes:
                if remaining <= closes - begin:
                    return begin + remaining
                remaining -= closes - begin
        day += timedelta(days=1)
    raise ValueError(f"no business hours in {zone_name}/{country} within {HORIZON_DAYS} days")


def business_hours_between(start: datetime, end: datetime, zone_name: str, country: str) -> timedelta:
    """How much business time lies between two instants (zero when end is not after start)."""
    zone = ZoneInfo(zone_name)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = timedelta(0)
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        if is_business_day(day, country):
            opens, closes = _window(day, zone)
            overlap = min(end, closes) - max(start, opens)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return total


@dataclass(frozen=True)
class Deadlines:
    first_response_due: datetime
    resolution_due: datetime


def deadlines(opened: datetime, priority: str, zone_name: str, country: str) -> Deadlines:
    first, resolve = TARGETS[priority]
    return Deadlines(
        add_business_hours(opened, first, zone_name, country), add_business_hours(opened, resolve, zone_name, country)
    )


def resume(paused_at: datetime, due: datetime, now: datetime, zone_name: str, country: str) -> datetime:
    """The resolution deadline after a pause: the business time left when it paused, counted from now."""
    left = business_hours_between(paused_at, due, zone_name, country)
    if left <= timedelta(0):
        return due  # it was already due when it paused: a pause does not undo a breach
    return add_business_hours(now, left.total_seconds() / 3600, zone_name, country)


# -- the ticket's status ---------------------------------------------------------------------------

# Staff may set these; `open` is where a ticket starts and where a customer's message brings it back.
STAFF_MOVES: dict[str, frozenset[str]] = {
    "open": frozenset({"pending", "resolved", "closed"}),
    "pending": frozenset({"resolved", "closed"}),
    "resolved": frozenset({"closed"}),
    "closed": frozenset(),
}


def set_status(current: str, target: str) -> str:
    """A staff status change; setting the status a ticket has is a no-op, going back is a 409."""
    if target == current:
        return current
    if target not in STAFF_MOVES[current]:
        raise Conflict(f"a ticket that is {current} cannot become {target}", field="status", status_now=current)
    return target


def after_message(current: str, author: str) -> str:
    """A customer writing again reopens a pending or resolved ticket; nobody may write to a closed one."""
    if current == "closed":
        raise Conflict("the ticket is closed; open a new ticket", field="ticket_id", status_now=current)
    if author == "customer" and current in ("pending", "resolved"):
        return "open"
    return current


def running_deadline(
    status: str, first_response_due: datetime, first_responded: bool, resolution_due: datetime, paused: bool
) -> datetime | None:
    """The nearest deadline whose clock runs: none once resolved or closed; resolution not while paused."""
    if status in ("resolved", "closed"):
        return None
    running = [] if first_responded else [first_response_due]
    if not paused:
        running.append(resolution_due)
    return min(running, default=None)


def queue_key(breached: bool, deadline: datetime | None, ticket_id: str) -> str:
    """One sortable string for the queue: breached first, then the nearest running deadline, then the id."""
    due = deadline.astimezone(UTC).strftime("%Y%m%dT%H%M%S") if deadline else "99999999T999999"
    return f"{0 if breached else 1}|{due}|{ticket_id}"
