"""Cron expressions of scheduled compensation (补偿设置): parsed, checked against what celery
beat can run, turned into django-celery-beat CrontabSchedule fields, and previewed.

Two forms are accepted:

* standard cron, five fields: ``minute hour day-of-month month day-of-week`` (weekdays 0–7,
  0 and 7 = Sunday, or SUN–SAT), e.g. ``*/10 * * * *``;
* the Quartz form E10 administrators know, six or seven fields: ``seconds minute hour
  day-of-month month day-of-week [year]`` with ``?`` for "no value" and Quartz weekdays
  (1–7 = SUN–SAT), e.g. ``0 0/10 * * * ?``.

Both know ``*``, lists, ranges (also wrapping ones: ``22-2``), steps (``*/5``, ``0-30/10``,
``5/15``) and month and weekday names. What celery's crontab cannot express is refused with a
message naming the field: seconds other than 0, a year other than ``*``, Quartz's ``L``,
``W`` and ``#``, and a day of month together with a day of week (cron runs when either
matches, celery beat only when both do, so such a schedule would silently mean something
else). Every field is expanded into its set of values and written back in a canonical form,
so what beat runs is exactly what the preview shows.
"""
import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

MONTHS = {name: n for n, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)}
WEEKDAYS = {name: n for n, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# How far the preview looks ahead: 8 years cover "29 February" whatever the year.
HORIZON_DAYS = 8 * 366


class CronError(ValueError):
    """A cron expression that cannot be scheduled; str() is the message for the user."""


@dataclass(frozen=True)
class _Field:
    name: object  # a lazy translation: the field's name in messages
    low: int
    high: int
    names: dict | None = None


MINUTE = _Field(gettext_lazy("minute"), 0, 59)
HOUR = _Field(gettext_lazy("hour"), 0, 23)
DAY = _Field(gettext_lazy("day of month"), 1, 31)
MONTH = _Field(gettext_lazy("month"), 1, 12, MONTHS)
# Standard weekdays 0–7 (7 is Sunday again); Quartz weekdays 1–7 = SUN–SAT.
WEEKDAY = _Field(gettext_lazy("day of week"), 0, 7, WEEKDAYS)
QUARTZ_WEEKDAY = _Field(gettext_lazy("day of week"), 1, 7,
                        {name: n + 1 for name, n in WEEKDAYS.items()})


@dataclass(frozen=True)
class Cron:
    """A parsed expression: each field as the sorted values it allows (weekdays 0–6, Sunday
    0, as celery counts them)."""

    source: str
    quartz: bool
    minutes: tuple
    hours: tuple
    days: tuple
    months: tuple
    weekdays: tuple

    def crontab_fields(self):
        """The fields of a django_celery_beat CrontabSchedule (its timezone aside)."""
        return {
            "minute": _render(self.minutes, 0, 59),
            "hour": _render(self.hours, 0, 23),
            "day_of_month": _render(self.days, 1, 31),
            "month_of_year": _render(self.months, 1, 12),
            "day_of_week": _render(self.weekdays, 0, 6),
        }

    def matches_day(self, day):
        return (day.month in self.months and day.day in self.days
                and day.isoweekday() % 7 in self.weekdays)

    def next_runs(self, count=5, now=None, tz=None):
        """The next `count` run times strictly after `now`, aware, in `tz` (the console's
        TIME_ZONE by default). Bounded: looks at most HORIZON_DAYS ahead."""
        zone = ZoneInfo(tz or settings.TIME_ZONE)
        local = timezone.localtime(now or timezone.now(), zone)
        start = local.replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        runs = []
        day = start.date()
        for _offset in range(HORIZON_DAYS):
            if self.matches_day(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        moment = datetime(day.year, day.month, day.day, hour, minute)
                        if moment >= start:
                            runs.append(moment.replace(tzinfo=zone))
                            if len(runs) >= count:
                                return runs
            day += timedelta(days=1)
        return runs


def parse(expression):
    """Parse a standard (5 fields) or Quartz (6 or 7 fields) expression; raise CronError."""
    source = " ".join(str(expression or "").split())
    if not source:
        raise CronError(_("Give a cron expression, e.g. “*/10 * * * *” or “0 0/10 * * * ?”."))
    text = MACROS.get(source.lower(), source)
    if text.startswith("@"):
        raise CronError(_("“%(value)s” is not a known shorthand; use %(known)s.")
                        % {"value": source, "known": ", ".join(MACROS)})
    parts = text.split(" ")
    if len(parts) == 5:
        quartz = False
        minute, hour, day, month, weekday = parts
        weekday_field = WEEKDAY
    elif len(parts) in (6, 7):
        quartz = True
        seconds, minute, hour, day, month, weekday = parts[:6]
        if seconds not in ("0", "00"):
            raise CronError(_("Seconds: only 0 can be scheduled (celery beat runs tasks on the "
                              "minute); got “%(value)s”.") % {"value": seconds})
        if len(parts) == 7 and parts[6] != "*":
            raise CronError(_("Year: only “*” can be scheduled; got “%(value)s”.")
                            % {"value": parts[6]})
        weekday_field = QUARTZ_WEEKDAY
    else:
        raise CronError(_("Give 5 fields (minute hour day-of-month month day-of-week) or the "
                          "Quartz form with 6 or 7 (seconds minute hour day-of-month month "
                          "day-of-week [year]); got %(count)d.") % {"count": len(parts)})

    for value, field in ((minute, MINUTE), (hour, HOUR), (month, MONTH)):
        if value == "?":
            raise CronError(_("%(field)s: “?” is only allowed for the day of month or the day "
                              "of week.") % {"field": _cap(field.name)})
    minutes = _expand(minute, MINUTE)
    hours = _expand(hour, HOUR)
    months = _expand(month, MONTH)
    day_free, weekday_free = day in ("*", "?"), weekday in ("*", "?")
    if not day_free and not weekday_free:
        raise CronError(_("Day of month and day of week are both restricted: cron runs on days "
                          "matching either, celery beat only on days matching both. Restrict "
                          "one and put “*” (or “?”) in the other."))
    days = _expand("*" if day_free else day, DAY)
    weekdays = _expand("*" if weekday_free else weekday, weekday_field)
    if quartz:
        weekdays = {n - 1 for n in weekdays}  # Quartz 1–7 = SUN–SAT → celery 0–6
    else:
        weekdays = {n % 7 for n in weekdays}  # 7 is Sunday too
    if not day_free:
        longest = max(_month_length(m) for m in months)
        if min(days) > longest:
            raise CronError(_("This schedule never runs: no chosen month has a day %(day)d.")
                            % {"day": min(days)})
    return Cron(source=source, quartz=quartz, minutes=tuple(sorted(minutes)),
                hours=tuple(sorted(hours)), days=tuple(sorted(days)),
                months=tuple(sorted(months)), weekdays=tuple(sorted(weekdays)))


def next_runs(expression, count=5, now=None, tz=None):
    return parse(expression).next_runs(count, now, tz)


def _cap(name):
    text = str(name)
    return text[:1].upper() + text[1:]


def _month_length(month):
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


def _expand(text, field):
    """The set of values of one field (list items, ranges, steps, names)."""
    values = set()
    for item in text.split(","):
        if not item:
            raise CronError(_("%(field)s: an empty list item in “%(value)s”.")
                            % {"field": _cap(field.name), "value": text})
        values |= _expand_item(item, field, text)
    return values


def _expand_item(item, field, text):
    shown, item = item, item.upper()  # names in any case; messages show what was typed
    for mark, what in (("L", _("“L” (last)")), ("W", _("“W” (nearest weekday)")),
                       ("#", _("“#” (n-th weekday of the month)"))):
        # Month and weekday names hold these letters (JUL, WED): judge what is left of them.
        rest = item
        for name in field.names or ():
            rest = rest.replace(name, "")
        if mark in rest:
            raise CronError(_("%(field)s: %(what)s cannot be scheduled by celery beat; got "
                              "“%(value)s”.") % {"field": _cap(field.name), "what": what,
                                                  "value": shown})
    step = 1
    if "/" in item:
        base, _slash, step_text = item.partition("/")
        step = _number(step_text, field, shown, step=True)
        if step < 1:
            raise CronError(_("%(field)s: the step must be at least 1; got “%(value)s”.")
                            % {"field": _cap(field.name), "value": shown})
    else:
        base = item
    if base in ("*", "?"):
        first, last = field.low, field.high
        if field is WEEKDAY:
            last = 6  # 7 is Sunday again: */2 means SUN, TUE, THU, SAT
    elif "-" in base:
        low_text, _dash, high_text = base.partition("-")
        first, last = _number(low_text, field, shown), _number(high_text, field, shown)
    else:
        first = _number(base, field, shown)
        # Quartz's "5/15" (and cron's, where accepted) runs from 5 to the end of the range.
        last = (6 if field is WEEKDAY else field.high) if "/" in item else first
    if first <= last:
        return set(range(first, last + 1, step))
    # A wrapping range: 22-2 in hours is 22, 23, 0, 1, 2; FRI-MON in weekdays.
    span = field.high - field.low + 1
    if field is WEEKDAY:
        span = 7  # 0 and 7 are one day
    values, n = set(), first
    end = last + span
    while n <= end:
        values.add(field.low + (n - field.low) % span)
        n += step
    return values


def _number(text, field, item, step=False):
    text = text.upper()
    if field.names and text in field.names and not step:
        return field.names[text]
    if not (text.isascii() and text.isdigit() and len(text) <= 9):  # int() refuses "²"
        raise CronError(_("%(field)s: “%(value)s” is not a number, a name, a range or a step.")
                        % {"field": _cap(field.name), "value": item})
    value = int(text)
    if not step and not field.low <= value <= field.high:
        hint = ""
        if field is QUARTZ_WEEKDAY:
            hint = " " + _("Quartz weekdays are 1–7 (1 = Sunday) or SUN–SAT.")
        raise CronError(_("%(field)s: %(number)d is out of range %(low)d–%(high)d.")
                        % {"field": _cap(field.name), "number": value, "low": field.low,
                           "high": field.high} + hint)
    return value


def _render(values, low, high):
    """A field for celery's crontab: "*", "*/n", or a list with runs as ranges."""
    values = sorted(values)
    if values == list(range(low, high + 1)):
        return "*"
    if len(values) > 2 and values[0] == low:
        step = values[1] - values[0]
        if step > 1 and values == list(range(low, high + 1, step)):
            return f"*/{step}"
    parts, run = [], [values[0]]
    for value in values[1:]:
        if value == run[-1] + 1:
            run.append(value)
            continue
        parts.append(_run(run))
        run = [value]
    parts.append(_run(run))
    return ",".join(parts)


def _run(run):
    if len(run) >= 3:
        return f"{run[0]}-{run[-1]}"
    return ",".join(str(v) for v in run)


def compensation_cron_error(enabled, expression):
    """The message for a config's compensation cron, or "" when it is fine: blank is fine
    while compensation is off; anything typed must parse."""
    if not (expression or "").strip():
        if enabled:
            return _("Give the schedule (a cron expression) to enable compensation.")
        return ""
    try:
        parse(expression)
    except CronError as exc:
        return str(exc)
    return ""
