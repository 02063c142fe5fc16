"""Working-day deadlines: weekends and configured holidays are skipped."""

from datetime import date

import pytest

from console.cases.deadlines import add_working_days, is_working_day, working_days_until

FRIDAY = date(2026, 11, 20)
MONDAY = date(2026, 11, 23)


def test_weekends_are_skipped() -> None:
    assert add_working_days(FRIDAY, 1, []) == MONDAY
    assert add_working_days(MONDAY, 5, []) == date(2026, 11, 30)
    assert add_working_days(date(2026, 11, 21), 1, []) == MONDAY  # opened on a Saturday


def test_holidays_are_skipped() -> None:
    christmas = [date(2026, 12, 25), date(2026, 12, 28)]
    # Thursday 24th + 1 working day: Friday 25th and Monday 28th are holidays, so Tuesday 29th.
    assert add_working_days(date(2026, 12, 24), 1, christmas) == date(2026, 12, 29)
    assert not is_working_day(date(2026, 12, 25), christmas)


def test_zero_days_is_the_same_day_and_negative_is_refused() -> None:
    assert add_working_days(MONDAY, 0, []) == MONDAY
    with pytest.raises(ValueError, match="cannot be negative"):
        add_working_days(MONDAY, -1, [])


def test_working_days_until_counts_only_working_days() -> None:
    assert working_days_until(FRIDAY, MONDAY, []) == 1
    assert working_days_until(FRIDAY, FRIDAY, []) == 0
    assert working_days_until(MONDAY, FRIDAY, []) == 0  # past
    assert working_days_until(FRIDAY, date(2026, 11, 24), [MONDAY]) == 1
