"""fpack.toml's `schedule` (EventBridge rate()/cron(), or unix-cron) → Cloud Scheduler's unix-cron:
golden pairs, and whole error messages for what unix-cron cannot say."""

from __future__ import annotations

import pytest

from fpack.errors import ConfigError
from fpack.schedules import check_form, eventbridge, unix_cron

WHERE = "fpack.toml: [functions.tick]"


@pytest.mark.parametrize(("expression", "expected"), [
    ("rate(1 minute)", "* * * * *"),
    ("rate(5 minutes)", "*/5 * * * *"),
    ("rate(30 minutes)", "*/30 * * * *"),
    ("rate(60 minutes)", "0 * * * *"),
    ("rate(120 minutes)", "0 */2 * * *"),
    ("rate(1 hour)", "0 * * * *"),
    ("rate(6 hours)", "0 */6 * * *"),
    ("rate(24 hours)", "0 0 * * *"),
    ("rate(1 day)", "0 0 * * *"),
    ("rate(7 days)", "0 0 * * 0"),
    (" rate( 2 Hours ) ", "0 */2 * * *"),
    ("cron(0 12 * * ? *)", "0 12 * * *"),
    ("cron(0/15 8-17 ? * MON-FRI *)", "*/15 8-17 * * MON-FRI"),
    ("cron(5/15 * * * ? *)", "5-59/15 * * * *"),
    ("cron(0 0 1/2 * ? *)", "0 0 */2 * *"),
    ("cron(0 0 ? JAN/3 ? *)", "0 0 * */3 *"),
    ("cron(30 6 ? * 1 *)", "30 6 * * 0"),  # EventBridge SUN = 1, unix-cron SUN = 0
    ("cron(0 9 ? * 2-6 *)", "0 9 * * 1-5"),
    ("cron(0 9 ? * 1,7 *)", "0 9 * * 0,6"),
    ("cron(0 9 ? * 3/2 *)", "0 9 * * 2-6/2"),
    ("cron(0 9 ? * MON/2 *)", "0 9 * * 1-6/2"),
    ("cron(0 9 1,15 * ? *)", "0 9 1,15 * *"),
    ("*/5 * * * *", "*/5 * * * *"),
    ("0  9 * *  MON-FRI", "0 9 * * MON-FRI"),
    ("0 0 1 JAN,JUL 0", "0 0 1 JAN,JUL 0"),
])
def test_converts(expression: str, expected: str) -> None:
    assert unix_cron(expression, where=WHERE) == expected


def error(expression: str) -> str:
    with pytest.raises(ConfigError) as info:
        unix_cron(expression, where=WHERE)
    return str(info.value)


def test_a_rate_that_does_not_divide_its_unit_is_refused_with_a_cron_to_write() -> None:
    assert error("rate(7 minutes)") == (
        'fpack.toml: [functions.tick] schedule = "rate(7 minutes)": Cloud Scheduler\'s unix-cron '
        "counts minutes from 0 in every hour, so every 7 minutes cannot be said evenly; expected "
        "a number of minutes that divides 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) or a "
        "multiple of 60\n"
        '  hint: use such a rate, or a cron() that says exactly when, e.g. "cron(0/7 * * * ? *)" '
        "(which restarts at 0 every hour)")
    assert "divides 24 (1, 2, 3, 4, 6, 8, 12)" in error("rate(5 hours)")


def test_days_beyond_one_or_seven_are_refused() -> None:
    assert error("rate(2 days)") == (
        'fpack.toml: [functions.tick] schedule = "rate(2 days)": Cloud Scheduler\'s unix-cron '
        "counts days within each month (28 to 31 days), so every 2 days cannot be said evenly; "
        "expected rate(1 day) or rate(7 days)\n"
        '  hint: use one of those, or a cron() that says exactly when, e.g. "cron(0 0 1/2 * ? *)" '
        "(which restarts on the 1st of every month)")


@pytest.mark.parametrize("special", ["L", "15W", "LW", "L-2"])
def test_last_and_weekday_forms_have_no_unix_cron_equivalent(special: str) -> None:
    assert error(f"cron(0 12 {special} * ? *)") == (
        f'fpack.toml: [functions.tick] schedule = "cron(0 12 {special} * ? *)": the day of month '
        f'"{special}" uses L, W or # (last, nearest weekday, nth weekday), which unix-cron has '
        "no equivalent for\n"
        "  hint: list the days instead, e.g. 1 for the first day of the month or MON-FRI")


@pytest.mark.parametrize("special", ["6#3", "6L"])
def test_nth_and_last_weekday_are_refused(special: str) -> None:
    assert f'the day of week "{special}" uses L, W or #' in error(f"cron(0 12 ? * {special} *)")


def test_a_year_other_than_star_is_refused() -> None:
    assert error("cron(0 12 * * ? 2030)") == (
        'fpack.toml: [functions.tick] schedule = "cron(0 12 * * ? 2030)": unix-cron has no year '
        'field, and the year here is "2030"; expected "*"\n'
        "  hint: use * for the year and stop the schedule by hand")


def test_a_cron_with_the_wrong_number_of_fields() -> None:
    assert error("cron(0 12 * *)") == (
        'fpack.toml: [functions.tick] schedule = "cron(0 12 * *)": an EventBridge cron() has 6 '
        "fields, this one has 4; expected rate(N minutes|hours|days), an EventBridge "
        "cron(minutes hours day-of-month month day-of-week year), or a 5-field unix-cron "
        '(e.g. "*/5 * * * *")\n'
        '  hint: write e.g. "cron(0 12 * * ? *)" (every day at 12:00 UTC)')


@pytest.mark.parametrize(("expression", "problem"), [
    ("cron(0 24 * * ? *)", 'the hour "24" is out of range; expected 0-23'),
    ("cron(0 12 * * 0 *)", 'the day of week "0" is out of range; expected 1-7 or SUN-SAT'),
    ("0 9 * * 7", 'the day of week "7" is out of range; expected 0-6 or SUN-SAT'),
    ("0 9 ? * *", 'the day of month "?" is not a cron value'),
    ("cron(0/0 12 * * ? *)", 'the minute "0/0" steps by 0'),
    ("rate(0 minutes)", "a rate must be at least 1"),
    ("every 5 minutes", "expected rate(N minutes|hours|days)"),
])
def test_values_out_of_range_or_shape(expression: str, problem: str) -> None:
    assert error(expression).startswith(f'{WHERE} schedule = "{expression}": {problem}')


@pytest.mark.parametrize(("expression", "expected"), [
    ("rate(7 minutes)", "rate(7 minutes)"),  # EventBridge's own forms go through as they are
    ("cron(0 12 L * ? *)", "cron(0 12 L * ? *)"),
    ("*/5 * * * *", "cron(0/5 * * * ? *)"),
    ("0 9 * * 1-5", "cron(0 9 ? * 2-6 *)"),  # unix SUN = 0, EventBridge SUN = 1
    ("0 0 * * 0,6", "cron(0 0 ? * 1,7 *)"),
    ("0 0 * * 1-5/2", "cron(0 0 ? * 2-6/2 *)"),  # the step is not a day
    ("0 9 * * MON-FRI", "cron(0 9 ? * MON-FRI *)"),
    ("0 0 1 * *", "cron(0 0 1 * ? *)"),
    ("0 */2 */3 * *", "cron(0 0/2 1/3 * ? *)"),
])
def test_eventbridge_takes_its_own_forms_and_converts_unix_cron(expression: str,
                                                                expected: str) -> None:
    assert eventbridge(expression, where=WHERE) == expected


def test_eventbridge_refuses_a_unix_cron_that_fixes_both_day_fields() -> None:
    with pytest.raises(ConfigError) as e:
        eventbridge("0 9 1 * 1", where=WHERE)
    assert e.value.message == (
        'fpack.toml: [functions.tick] schedule = "0 9 1 * 1": sets both a day of month ("1") and '
        'a day of week ("1"); EventBridge needs one of them to be "?"')
    assert e.value.hint is not None and '"cron(0 9 1 * ? *)"' in e.value.hint


@pytest.mark.parametrize("expression", ["rate(5 minutes)", "rate(7 minutes)", "cron(0 12 L * ? *)",
                                        "0 9 * * 1-5"])
def test_the_form_check_at_load_lets_every_target_specific_form_through(expression: str) -> None:
    check_form(expression, where=WHERE)  # what one target cannot run is that deploy's error


@pytest.mark.parametrize("expression", ["rate(5 minute", "rate(0 minutes)", "cron(0 12 * *)",
                                        "every 5 minutes", "*/5 * * *"])
def test_the_form_check_at_load_refuses_what_is_no_schedule(expression: str) -> None:
    with pytest.raises(ConfigError) as e:
        check_form(expression, where=WHERE)
    assert e.value.message.startswith(f'{WHERE} schedule = "{expression}": expected rate(N ')
