"""Dates as the OA targets take them (`transports.base.oa_datetime`)."""
import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from pushconfig.transports.base import oa_datetime

MOMENT = dt.datetime(2026, 11, 20, 1, 5, 9, 999_999, tzinfo=dt.timezone.utc)


def test_it_is_the_console_time_zone_to_the_second():
    assert oa_datetime(MOMENT) == "2026-11-20 09:05:09"  # Asia/Shanghai, cut not rounded


def test_a_zone_activated_for_a_request_does_not_change_what_is_sent():
    with timezone.override("America/New_York"):
        assert oa_datetime(MOMENT) == "2026-11-20 09:05:09"


@override_settings(TIME_ZONE="Europe/Berlin")
def test_it_follows_the_configured_time_zone():
    assert oa_datetime(MOMENT) == "2026-11-20 02:05:09"


def test_a_moment_without_a_zone_is_refused():
    with pytest.raises(ValueError):
        oa_datetime(MOMENT.replace(tzinfo=None))
