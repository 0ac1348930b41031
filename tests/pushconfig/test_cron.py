"""Compensation cron expressions: the standard five fields and the Quartz form, turned into
django-celery-beat crontab fields, refused with a message naming the problem when celery beat
cannot run them, and previewed — the same run times celery's own crontab computes."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab
from django.core.exceptions import ValidationError
from django.utils import translation

from pushconfig.cron import CronError, compensation_cron_error, next_runs, parse

from .conftest import make_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Friday morning, in the console's time zone.
NOW = datetime(2026, 11, 20, 9, 7, 30, tzinfo=SHANGHAI)


def fields(minute="*", hour="*", day_of_month="*", month_of_year="*", day_of_week="*"):
    return {"minute": minute, "hour": hour, "day_of_month": day_of_month,
            "month_of_year": month_of_year, "day_of_week": day_of_week}


STANDARD = [
    ("*/10 * * * *", fields(minute="*/10")),
    ("0 9-18 * * MON-FRI", fields(minute="0", hour="9-18", day_of_week="1-5")),
    ("30 2 1,15 * *", fields(minute="30", hour="2", day_of_month="1,15")),
    ("0 22-2 * * *", fields(minute="0", hour="0-2,22,23")),
    ("0 0 * * 7", fields(minute="0", hour="0", day_of_week="0")),
    ("0 0 * * 5-7", fields(minute="0", hour="0", day_of_week="0,5,6")),
    ("5,35 8 * jan,jul *", fields(minute="5,35", hour="8", month_of_year="1,7")),
    ("0-30/10 * * * ?", fields(minute="0,10,20,30")),
    ("0 3 */10 * *", fields(minute="0", hour="3", day_of_month="*/10")),
    ("  @daily ", fields(minute="0", hour="0")),
]
QUARTZ = [
    ("0 0/10 * * * ?", fields(minute="*/10")),
    ("0 5/15 * * * ?", fields(minute="5,20,35,50")),
    ("0 0 12 * * ?", fields(minute="0", hour="12")),
    ("0 0 12 ? * MON-FRI", fields(minute="0", hour="12", day_of_week="1-5")),
    ("0 0 12 ? * 2-6", fields(minute="0", hour="12", day_of_week="1-5")),  # Quartz 2 = MON
    ("0 30 8 ? * 1", fields(minute="30", hour="8", day_of_week="0")),  # Quartz 1 = SUN
    ("0 15 10 ? * SUN,SAT", fields(minute="15", hour="10", day_of_week="0,6")),
    ("0 0 8 1 * ? *", fields(minute="0", hour="8", day_of_month="1")),
    ("00 0 0/2 ? * FRI-MON", fields(minute="0", hour="*/2", day_of_week="0,1,5,6")),
]


@pytest.mark.parametrize("expression, expected", STANDARD + QUARTZ,
                         ids=[e for e, _f in STANDARD + QUARTZ])
def test_it_turns_both_forms_into_crontab_fields(expression, expected):
    cron = parse(expression)
    assert cron.crontab_fields() == expected
    assert cron.quartz == (len(expression.split()) > 5)


@pytest.mark.parametrize("expression", [e for e, _f in STANDARD + QUARTZ])
def test_it_gives_celery_the_same_sets_it_parsed(expression):
    cron = parse(expression)
    schedule = crontab(**cron.crontab_fields())
    assert (schedule.minute, schedule.hour, schedule.day_of_month, schedule.month_of_year,
            schedule.day_of_week) == (set(cron.minutes), set(cron.hours), set(cron.days),
                                      set(cron.months), set(cron.weekdays))


@pytest.mark.parametrize("expression, message", [
    ("30 * * * * ?", "Seconds: only 0 can be scheduled (celery beat runs tasks on the minute); "
                     "got “30”."),
    ("*/5 * * * * ?", "Seconds: only 0 can be scheduled"),
    ("0 0 12 * * ? 2030", "Year: only “*” can be scheduled; got “2030”."),
    ("0 0 0 L * ?", "Day of month: “L” (last) cannot be scheduled by celery beat; got “L”."),
    ("0 0 0 15W * ?", "Day of month: “W” (nearest weekday) cannot be scheduled"),
    ("0 0 0 ? * MON#2", "Day of week: “#” (n-th weekday of the month) cannot be scheduled"),
    ("0 15 10 ? * 6L", "Day of week: “L” (last) cannot be scheduled"),
    ("0 0 8 ? * 0", "Day of week: 0 is out of range 1–7. Quartz weekdays are 1–7 (1 = Sunday) "
                    "or SUN–SAT."),
    ("0 0 1 * MON", "Day of month and day of week are both restricted"),
    ("0 0 0 1 * MON", "Day of month and day of week are both restricted"),
    ("61 * * * *", "Minute: 61 is out of range 0–59."),
    ("0 24 * * *", "Hour: 24 is out of range 0–23."),
    ("0 0 * 13 *", "Month: 13 is out of range 1–12."),
    ("0 0 31 2 *", "This schedule never runs: no chosen month has a day 31."),
    ("*/0 * * * *", "Minute: the step must be at least 1; got “*/0”."),
    ("? * * * *", "Minute: “?” is only allowed for the day of month or the day of week."),
    ("x * * * *", "Minute: “x” is not a number, a name, a range or a step."),
    ("² * * * *", "Minute: “²” is not a number, a name, a range or a step."),
    ("*/" + "9" * 5000 + " * * * *", "is not a number, a name, a range or a step."),
    ("1,,2 * * * *", "Minute: an empty list item in “1,,2”."),
    ("* * *", "Give 5 fields (minute hour day-of-month month day-of-week) or the Quartz form "
              "with 6 or 7 (seconds minute hour day-of-month month day-of-week [year]); got 3."),
    ("0 0 0 0 * * * *", "got 8."),
    ("@often", "“@often” is not a known shorthand"),
    ("   ", "Give a cron expression"),
])
def test_it_refuses_what_celery_beat_cannot_run_naming_the_problem(expression, message):
    with translation.override("en"), pytest.raises(CronError) as caught:
        parse(expression)
    assert message in str(caught.value)


def test_it_previews_the_next_runs_strictly_after_now_in_the_console_time_zone():
    runs = next_runs("*/10 * * * *", 3, now=NOW)
    assert runs == [NOW.replace(minute=m, second=0) for m in (10, 20, 30)]
    assert all(run.tzinfo == SHANGHAI for run in runs)
    # On a run time exactly: that one is past, the next one is shown.
    assert next_runs("*/10 * * * *", 1, now=NOW.replace(minute=10, second=0)) == [
        NOW.replace(minute=20, second=0)]


def test_it_previews_a_quartz_weekday_schedule_over_the_weekend():
    runs = next_runs("0 0 12 ? * MON-FRI", 3, now=NOW)
    assert [(r.strftime("%a"), r.day, r.hour) for r in runs] == [
        ("Fri", 20, 12), ("Mon", 23, 12), ("Tue", 24, 12)]


def test_it_previews_from_a_utc_now_in_local_time():
    utc_now = datetime(2026, 11, 20, 20, 30, tzinfo=ZoneInfo("UTC"))  # 04:30 in Shanghai
    assert next_runs("0 6 * * *", 1, now=utc_now) == [datetime(2026, 11, 21, 6, 0,
                                                                tzinfo=SHANGHAI)]


def test_it_previews_rare_dates_within_its_bounded_horizon_of_eight_years():
    assert next_runs("0 0 29 2 *", 5, now=NOW) == [
        datetime(2028, 2, 29, tzinfo=SHANGHAI), datetime(2032, 2, 29, tzinfo=SHANGHAI)]
    assert next_runs("0 0 1 1 *", 1, now=NOW) == [datetime(2027, 1, 1, tzinfo=SHANGHAI)]


@pytest.mark.parametrize("expression", ["*/10 * * * *", "0 0 12 ? * MON-FRI", "0 22-2 * * *",
                                        "0 30 8 ? * 1", "15 3 */10 * *", "0 0 8 1 * ? *",
                                        "0 0 1 1 *"])
def test_it_previews_the_run_times_celery_computes(expression):
    cron = parse(expression)
    schedule = crontab(**cron.crontab_fields(), nowfun=lambda: NOW)
    schedule.tz = SHANGHAI
    expected, last = [], NOW
    for _ in range(4):
        last = NOW + schedule.remaining_estimate(last)
        expected.append(last)
    assert cron.next_runs(4, now=NOW) == expected


def test_it_allows_a_blank_cron_only_while_compensation_is_off():
    with translation.override("en"):
        assert compensation_cron_error(False, "") == ""
        assert compensation_cron_error(True, " ") == (
            "Give the schedule (a cron expression) to enable compensation.")
        assert compensation_cron_error(False, "0 0/5 * * * ?") == ""
        assert "Seconds" in compensation_cron_error(False, "5 * * * * ?")


@pytest.mark.django_db
def test_it_validates_the_cron_in_the_model_naming_the_field():
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        make_config("http://127.0.0.1:9", compensation_enabled=True,
                    compensation_cron="0 0 0 L * ?")
    assert list(caught.value.message_dict) == ["compensation_cron"]
    assert "“L” (last)" in caught.value.message_dict["compensation_cron"][0]
    config = make_config("http://127.0.0.1:9", compensation_enabled=True,
                         compensation_cron="  0  0/10 * * * ?  ")
    assert config.compensation_cron == "0 0/10 * * * ?"  # stored with single spaces
