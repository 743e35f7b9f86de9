"""A function's `schedule` setting → Cloud Scheduler's unix-cron (5 fields), or EventBridge's
expression. Pure: no I/O.

fpack.toml's `schedule` is an EventBridge expression, `rate(N minutes|hours|days)` or
`cron(minutes hours day-of-month month day-of-week year)`, or a 5-field unix-cron. Cloud Scheduler
takes unix-cron, so the gcp deployer converts with `unix_cron`; EventBridge takes its own, so the
aws deployer converts a unix-cron with `eventbridge`. Config loading checks only the form
(`check_form`): `rate(7 minutes)` is fine on AWS though unix-cron cannot say it.
- EventBridge: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
- Cloud Scheduler: https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules
A rate becomes a clock-aligned `*/N` (EventBridge counts from the rule's creation instead), so only
an N that divides its unit's range evenly converts: `*/7` minutes would run at :56 and again at :00.
What unix-cron cannot say (`L`, `W`, `#`, a year) is a ConfigError naming the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from fpack.errors import ConfigError

EXPECTED: Final = ("expected rate(N minutes|hours|days), an EventBridge cron(minutes hours "
                   "day-of-month month day-of-week year), or a 5-field unix-cron "
                   '(e.g. "*/5 * * * *")')
_RATE: Final = re.compile(r"rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)", re.IGNORECASE)
_CRON: Final = re.compile(r"cron\((.*)\)", re.IGNORECASE | re.DOTALL)
# One item of a comma list: *, ?, a value, a range, each with an optional /step.
_ITEM: Final = re.compile(r"(?P<base>\*|\?|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(?P<step>\d+))?")
# EventBridge's last-day, nearest-weekday and nth-weekday forms (L, 15W, LW, 5L, 6#3).
_SPECIAL: Final = re.compile(r"\d*L(W|-\d+)?|\d+W|.*#.*", re.IGNORECASE)
_MONTHS: Final = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                  "DEC")
_DAYS: Final = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True, kw_only=True)
class Field:
    """One cron field: its name for messages, its numeric range, the names it also accepts."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    question: bool = False  # EventBridge's "?" (no specific value) is allowed here


# unix-cron as Cloud Scheduler documents it (day of week 0-6, Sunday = 0).
UNIX: Final = (Field(name="minute", low=0, high=59), Field(name="hour", low=0, high=23),
               Field(name="day of month", low=1, high=31),
               Field(name="month", low=1, high=12, names=_MONTHS),
               Field(name="day of week", low=0, high=6, names=_DAYS))
# EventBridge's first five fields (day of week 1-7, Sunday = 1); the year comes sixth.
AWS: Final = (*UNIX[:2], Field(name="day of month", low=1, high=31, question=True), UNIX[3],
              Field(name="day of week", low=1, high=7, names=_DAYS, question=True))


class _Invalid(ValueError):
    """What is wrong with an expression; `unix_cron` turns it into a ConfigError."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.fix = fix


def check_form(expression: str, *, where: str) -> None:
    """Refuse what is none of the three forms (a typo, a missing field) when fpack.toml is read."""
    text = expression.strip()
    rate, cron = _RATE.fullmatch(text), _CRON.fullmatch(text)
    if (rate and int(rate.group(1)) >= 1) or (cron and len(cron.group(1).split()) == 6) \
            or (not rate and not cron and len(text.split()) == 5):
        return
    raise ConfigError(f'{where} schedule = "{expression}": {EXPECTED}',
                      hint='e.g. schedule = "rate(5 minutes)" or "cron(0 12 * * ? *)"')


def unix_cron(expression: str, *, where: str) -> str:
    """The unix-cron for `expression`; `where` names its place, e.g. 'fpack.toml: [functions.x]'.

    Raises ConfigError (naming the value, what is expected and a fix) when it cannot convert."""
    text = expression.strip()
    try:
        if rate := _RATE.fullmatch(text):
            return _rate(int(rate.group(1)), rate.group(2).lower())
        if cron := _CRON.fullmatch(text):
            return _aws_cron(cron.group(1).split())
        fields = text.split()
        if len(fields) != 5:
            raise _Invalid(EXPECTED, 'write e.g. schedule = "rate(5 minutes)"')
        return " ".join(_field(v, f, aws=False) for v, f in zip(fields, UNIX, strict=True))
    except _Invalid as e:
        raise ConfigError(f'{where} schedule = "{expression}": {e}', hint=e.fix) from e


# unit → (its range within the next unit, that unit, the unix-cron for every N, a cron() example)
_RATES: Final = {
    "minute": (60, "hour", "*/{n} * * * *", "cron(0/{n} * * * ? *)"),
    "hour": (24, "day", "0 */{n} * * *", "cron(0 0/{n} * * ? *)"),
}


def _rate(n: int, unit: str) -> str:
    """rate(N unit) as a clock-aligned unix-cron; whole hours and days move up a unit."""
    if n < 1:
        raise _Invalid("a rate must be at least 1", 'write e.g. "rate(1 minute)"')
    if unit == "minute" and n % 60 == 0:
        return _rate(n // 60, "hour")
    if unit == "hour" and n % 24 == 0:
        return _rate(n // 24, "day")
    if unit == "day":
        return _days(n)
    size, within, form, example = _RATES[unit]
    if size % n:
        fits = ", ".join(str(d) for d in range(1, size) if size % d == 0)
        raise _Invalid(
            f"Cloud Scheduler's unix-cron counts {unit}s from 0 in every {within}, so every {n} "
            f"{unit}s cannot be said evenly; expected a number of {unit}s that divides {size} "
            f"({fits}) or a multiple of {size}",
            f'use such a rate, or a cron() that says exactly when, e.g. "{example.format(n=n)}" '
            f"(which restarts at 0 every {within})")
    return form.format(n=n).replace("*/1 ", "* ")


def _days(n: int) -> str:
    if n == 1:
        return "0 0 * * *"
    if n == 7:
        return "0 0 * * 0"  # weekly, on Sundays
    raise _Invalid(
        f"Cloud Scheduler's unix-cron counts days within each month (28 to 31 days), so every "
        f"{n} days cannot be said evenly; expected rate(1 day) or rate(7 days)",
        f'use one of those, or a cron() that says exactly when, e.g. "cron(0 0 1/{n} * ? *)" '
        "(which restarts on the 1st of every month)")


def _aws_cron(fields: list[str]) -> str:
    """An EventBridge cron's six fields as unix-cron's five."""
    if len(fields) != 6:
        raise _Invalid(f"an EventBridge cron() has 6 fields, this one has {len(fields)}; "
                       f"{EXPECTED}", 'write e.g. "cron(0 12 * * ? *)" (every day at 12:00 UTC)')
    if fields[5] != "*":
        raise _Invalid(f'unix-cron has no year field, and the year here is "{fields[5]}"; '
                       'expected "*"', "use * for the year and stop the schedule by hand")
    return " ".join(_field(v, f, aws=True) for v, f in zip(fields[:5], AWS, strict=True))


def _field(value: str, field: Field, *, aws: bool) -> str:
    """One field, converted item by item (a comma list keeps its order)."""
    return ",".join(_item(item, field, aws=aws) for item in value.split(","))


def _item(item: str, field: Field, *, aws: bool) -> str:
    if _SPECIAL.fullmatch(item) and field.name in ("day of month", "day of week"):
        raise _Invalid(
            f'the {field.name} "{item}" uses L, W or # (last, nearest weekday, nth weekday), '
            "which unix-cron has no equivalent for",
            "list the days instead, e.g. 1 for the first day of the month or MON-FRI")
    match = _ITEM.fullmatch(item)
    if match is None or (match["base"] == "?" and not field.question):
        raise _Invalid(f'the {field.name} "{item}" is not a cron value; {EXPECTED}',
                       f"write the {field.name} as * or numbers {_span(field)}")
    base, step = match["base"], match["step"]
    if base == "?":
        base = "*"  # "no specific value": the other day field decides, as * does in unix-cron
    elif base != "*":
        base = "-".join(_value(v, field, aws=aws) for v in base.split("-"))
    if step is None:
        return base
    if int(step) < 1:
        raise _Invalid(f'the {field.name} "{item}" steps by 0', "step by 1 or more")
    if "-" not in base and base != "*":  # a/N: from a to the field's end, as EventBridge means
        base = _from(base, field, aws=aws)
    return f"{base}/{step}"


def _from(start: str, field: Field, *, aws: bool) -> str:
    """`a/N` as unix-cron spells it: `*/N` from the field's first value, else `a-last/N`."""
    shift = 1 if aws and field.names == _DAYS else 0  # the start was already moved to 0-6
    if start.upper() in field.names:  # a name: its unix-cron number, so the range is numeric
        start = str(field.names.index(start.upper()) + (1 if field.names == _MONTHS else 0))
    low, high = field.low - shift, field.high - shift
    return "*" if int(start) == low else f"{start}-{high}"


def _value(value: str, field: Field, *, aws: bool) -> str:
    """A number checked against the field's range (EventBridge's day of week moved to 0-6), or
    a name the field accepts, passed through."""
    if value.upper() in field.names:
        return value
    if not value.isdigit() or not field.low <= int(value) <= field.high:
        raise _Invalid(f'the {field.name} "{value}" is out of range; expected {_span(field)}',
                       f"write the {field.name} as {_span(field)}")
    if aws and field.names == _DAYS:
        return str(int(value) - 1)  # EventBridge: SUN = 1 … SAT = 7; unix-cron: SUN = 0
    return value


def _span(field: Field) -> str:
    names = f" or {field.names[0]}-{field.names[-1]}" if field.names else ""
    return f"{field.low}-{field.high}{names}"


def eventbridge(expression: str, *, where: str) -> str:
    """The EventBridge expression for `expression`: rate() and cron() as they are, a unix-cron
    as cron() (day of week 1-7, a year of *, and "?" in the day field left open, as EventBridge
    requires). ConfigError when unix-cron fixes both the day of month and the day of week, which
    EventBridge cannot say (unix-cron runs on either; EventBridge wants one to be "?")."""
    text = expression.strip()
    if _RATE.fullmatch(text) or _CRON.fullmatch(text):
        return text
    unix_cron(text, where=where)  # a malformed value gets the same message as for gcp
    minute, hour, dom, month, dow = text.split()
    if dow == "*":
        dow = "?"
    elif dom == "*":
        dom = "?"
    else:
        raise ConfigError(
            f'{where} schedule = "{expression}": sets both a day of month ("{dom}") and a day of '
            f'week ("{dow}"); EventBridge needs one of them to be "?"',
            hint="write it as an EventBridge cron() with one day field set to ?, e.g. "
            f'"cron({minute} {hour} {dom} {month} ? *)"')
    # EventBridge documents increments as start/step: */N is written from each field's first value.
    fields = (minute, hour, dom, month, _aws_days(dow))
    starts = ("0", "0", "1", "1", "1")
    return "cron(" + " ".join(f.replace("*/", f"{low}/") for f, low in zip(fields, starts,
                                                                            strict=True)) + " *)"


def _aws_days(field: str) -> str:
    """A unix-cron day-of-week field with EventBridge's numbers (SUN = 1 rather than 0)."""
    return re.sub(r"(?<![/\d])\d+", lambda m: str(int(m.group()) + 1), field)  # not a /step
