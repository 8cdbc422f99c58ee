"""The support SLA clock: business hours in the buyer's zone, weekends, holidays, DST, far-east zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hanse.errors import Conflict
from services.sales.domain.sla import (
    add_business_hours,
    after_message,
    business_hours_between,
    check_timezone,
    deadlines,
    resume,
    set_status,
    zone_for,
)


def at(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def local(instant: datetime, zone: str) -> datetime:
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def test_a_friday_afternoon_in_tokyo_skips_the_weekend_and_a_national_holiday():
    # Fri 20 Nov 2026, 16:00 JST; Mon 23 Nov is Labour Thanksgiving Day in Japan.
    opened = at("Asia/Tokyo", 2026, 11, 20, 16, 0)
    due = deadlines(opened, "high", "Asia/Tokyo", "JP")
    # 1 h on Friday, Saturday, Sunday and the holiday skipped, 3 h on Tuesday.
    assert local(due.first_response_due, "Asia/Tokyo") == datetime(2026, 11, 24, 12, 0)
    # 16 h: 1 (Fri) + 8 (Tue) + 7 (Wed).
    assert local(due.resolution_due, "Asia/Tokyo") == datetime(2026, 11, 25, 16, 0)


def test_a_weekend_in_berlin():
    opened = at("Europe/Berlin", 2026, 11, 27, 16, 0)  # a Friday
    due = deadlines(opened, "normal", "Europe/Berlin", "DE")
    assert local(due.first_response_due, "Europe/Berlin") == datetime(2026, 11, 30, 16, 0)
    # Outside business hours the clock starts at the next opening.
    saturday = at("Europe/Berlin", 2026, 11, 28, 10, 0)
    assert local(add_business_hours(saturday, 2, "Europe/Berlin", "DE"), "Europe/Berlin") == datetime(
        2026, 11, 30, 11, 0
    )


def test_christmas_in_germany_is_skipped():
    opened = at("Europe/Berlin", 2026, 12, 24, 16, 30)  # Thursday; 25 and 26 Dec are holidays
    due = add_business_hours(opened, 2, "Europe/Berlin", "DE")
    assert local(due, "Europe/Berlin") == datetime(2026, 12, 28, 10, 30)


def test_a_dst_change_moves_the_window_in_utc_not_its_length():
    # Berlin leaves summer time on Sun 25 Oct 2026: Friday opens 07:00 UTC, Monday 08:00 UTC.
    opened = at("Europe/Berlin", 2026, 10, 23, 15, 0)
    due = add_business_hours(opened, 8, "Europe/Berlin", "DE")
    assert local(due, "Europe/Berlin") == datetime(2026, 10, 26, 15, 0)
    assert due == datetime(2026, 10, 26, 14, 0, tzinfo=UTC)
    assert business_hours_between(opened, due, "Europe/Berlin", "DE") == timedelta(hours=8)


def test_a_buyer_thirteen_hours_ahead_of_utc_in_auckland():
    # 22:00 UTC on Thursday is 11:00 on Friday in Auckland (NZDT, +13).
    opened = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)
    due = deadlines(opened, "urgent", zone_for("NZ"), "NZ")
    assert due.first_response_due == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
    # 8 h: 6 on Friday, 2 on Monday: 11:00 NZDT Monday is still Sunday in UTC.
    assert due.resolution_due == datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
    assert due.resolution_due.weekday() == 6


def test_kiritimati_fourteen_hours_ahead():
    opened = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)  # 10:00 Friday 27 Nov on Kiritimati
    due = add_business_hours(opened, 8, "Pacific/Kiritimati", "KI")
    assert local(due, "Pacific/Kiritimati") == datetime(2026, 11, 30, 10, 0)


def test_a_pause_keeps_the_business_time_that_was_left():
    zone = "Europe/Berlin"
    paused = at(zone, 2026, 11, 30, 10, 0)  # Monday
    due = at(zone, 2026, 11, 30, 15, 0)  # 5 business hours left
    now = at(zone, 2026, 12, 2, 16, 0)  # Wednesday, two days later
    assert local(resume(paused, due, now, zone, "DE"), zone) == datetime(2026, 12, 3, 13, 0)
    # Paused after the deadline had passed: the deadline stays (the breach happened).
    assert resume(at(zone, 2026, 11, 30, 16, 0), due, now, zone, "DE") == due


def test_zones_and_their_validation():
    assert zone_for("JP") == "Asia/Tokyo"
    assert zone_for("US") == "America/New_York"
    assert zone_for("US", "America/Los_Angeles") == "America/Los_Angeles"
    assert zone_for("AQ") == "UTC" or zone_for("AQ").startswith("Antarctica/")
    assert zone_for("UA") in ("Europe/Kyiv", "Europe/Kiev")
    assert zone_for("XX") == "UTC"
    assert all(ZoneInfo(zone_for(c)) for c in ("US", "CA", "AU", "BR", "RU", "CN", "IN", "ZA", "AE", "SG", "KI"))
    assert check_timezone("Asia/Tokyo") == "Asia/Tokyo"
    for bad in ("Mars/Olympus", "../etc/passwd", "", "UTC+3"):
        with pytest.raises(ValueError):
            check_timezone(bad)


def test_ticket_status_moves():
    assert set_status("open", "pending") == "pending"
    assert set_status("pending", "pending") == "pending"
    assert after_message("pending", "customer") == "open"
    assert after_message("pending", "agent") == "pending"
    assert after_message("resolved", "customer") == "open"
    with pytest.raises(Conflict):
        set_status("closed", "pending")
    with pytest.raises(Conflict):
        set_status("resolved", "pending")
    with pytest.raises(Conflict):
        after_message("closed", "agent")


def test_auckland_in_winter_exactly_twelve_hours_ahead():
    # NZST is UTC+12 in June: 21:00 UTC on Thursday 11 June 2026 is 09:00 Friday in Auckland.
    opened = datetime(2026, 6, 11, 21, 0, tzinfo=UTC)
    due = deadlines(opened, "high", "Pacific/Auckland", "NZ")
    assert due.first_response_due == datetime(2026, 6, 12, 1, 0, tzinfo=UTC)  # 13:00 NZST Friday
    # 16 h: 8 on Friday, then Monday 15 June, 17:00 NZST = 05:00 UTC Monday.
    assert due.resolution_due == datetime(2026, 6, 15, 5, 0, tzinfo=UTC)
