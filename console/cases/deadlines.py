"""Working-day arithmetic for case deadlines: weekends and configured holidays do not count."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta


def is_working_day(day: date, holidays: Collection[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_working_days(start: date, days: int, holidays: Collection[date]) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself never counts)."""
    if days < 0:
        raise ValueError(f"a timescale cannot be negative ({days} working days)")
    day = start
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, holidays):
            counted += 1
    return day


def working_days_until(today: date, due: date, holidays: Collection[date]) -> int:
    """Working days after ``today`` up to and including ``due`` (0 when ``due`` is today or past)."""
    return sum(1 for n in range(1, (due - today).days + 1) if is_working_day(today + timedelta(days=n), holidays))
