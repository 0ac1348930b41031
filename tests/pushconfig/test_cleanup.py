"""Scheduled cleanup of the push log: a config's success, ignored and pending records older than
its keep days go, in chunks of short statements; failed and intercepted ones, recent ones and
other configs' stay. The dry run (command and admin action) reports and deletes nothing."""
import itertools
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from pushconfig import cleanup
from pushconfig.models import PushAttempt, PushRecord
from pushconfig.tasks import cleanup as cleanup_task

from .conftest import in_flight, make_config
from .test_admin_support import EN

pytestmark = pytest.mark.django_db
URL = "http://127.0.0.1:9"
_seq = itertools.count(1)


def record(config, outcome, days_ago, attempts=1):
    n = next(_seq)
    made = PushRecord.objects.create(
        config=config, event_id=f"cl-{n}", idempotency_key=f"{config.pk}:cl-{n}", lane=0,
        request_id=f"R{n}", receiver="lisi", data_set="todo", business_status="arrive",
        payload={"n": n}, outcome=outcome)
    for number in range(1, attempts + 1):
        PushAttempt.objects.create(record=made, number=number, started_at=timezone.now(),
                                   finished_at=timezone.now())
    PushRecord.objects.filter(pk=made.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago))
    return PushRecord.objects.get(pk=made.pk)


@pytest.fixture
def log():
    """A config keeping 30 days, with old and recent records of every outcome, and another
    config with old records."""
    config = make_config(URL, cleanup_enabled=True, cleanup_keep_days=30)
    other = make_config(URL, identifier="other", cleanup_enabled=True, cleanup_keep_days=30)
    old = {outcome: record(config, outcome, 40)
           for outcome in ("success", "ignored", "pending", "failed", "intercepted")}
    old["success2"] = record(config, "success", 31, attempts=2)
    recent = [record(config, outcome, 29) for outcome in ("success", "ignored", "pending")]
    others = [record(other, outcome, 40) for outcome in ("success", "pending")]
    return config, old, recent, others


def remaining(config):
    return set(PushRecord.objects.filter(config=config).values_list("pk", flat=True))


def test_it_deletes_only_the_configs_old_success_ignored_and_pending_records(log):
    config, old, recent, others = log
    report = cleanup.run(config)
    assert report.counts == {"success": 2, "ignored": 1, "pending": 1}
    assert report.total == 4
    assert remaining(config) == {old["failed"].pk, old["intercepted"].pk, *(r.pk for r in recent)}
    assert PushRecord.objects.filter(pk__in=[r.pk for r in others]).count() == 2
    gone = [old[k].pk for k in ("success", "ignored", "pending", "success2")]
    assert not PushAttempt.objects.filter(record_id__in=gone).exists()
    assert PushAttempt.objects.filter(record=old["failed"]).exists()
    assert report.oldest == old["success"].created_at
    assert report.newest == old["success2"].created_at


def test_it_deletes_in_chunks_of_short_statements(log):
    config, old, _recent, _others = log
    oldest = [record(config, "success", 50 + n) for n in range(5)][-1]
    with CaptureQueriesContext(connection) as queries:
        report = cleanup.run(config, chunk=3)
    assert report.counts == {"success": 7, "ignored": 1, "pending": 1}
    assert (report.oldest, report.newest) == (oldest.created_at, old["success2"].created_at)
    assert remaining(config) == {old["failed"].pk, old["intercepted"].pk, *(r.pk for r in _recent)}
    sqls = [q["sql"] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        # One statement per chunk locks it, deletes its attempts and records, and sums them.
        chunks = [sql for sql in sqls if "FOR UPDATE" in sql]
        assert len(chunks) == 4  # three of 3, then one that finds nothing left
        assert all("LIMIT 3" in sql and sql.count("DELETE FROM") == 2 for sql in chunks)
        return
    deletes = [sql for sql in sqls if sql.startswith("DELETE")]
    record_deletes = [sql for sql in deletes if 'FROM "pushconfig_pushrecord"' in sql]
    sizes = [len(re.search(r"IN \(([^)]*)\)", sql).group(1).split(",")) for sql in record_deletes]
    assert sizes == [3, 3, 3]
    assert all(len(re.search(r"IN \(([^)]*)\)", sql).group(1).split(",")) <= 3
               for sql in deletes)
    assert len(deletes) == 6  # attempts, then records, per chunk


def test_it_reports_what_a_dry_run_would_delete_and_deletes_nothing(log):
    config, old, _recent, _others = log
    before = PushRecord.objects.count()
    report = cleanup.preview(config)
    assert (report.counts, report.total) == ({"success": 2, "ignored": 1, "pending": 1}, 4)
    assert (report.oldest, report.newest) == (old["success"].created_at,
                                              old["success2"].created_at)
    assert PushRecord.objects.count() == before
    with translation.override("en"):
        text = cleanup.describe(report, dry_run=True)
    assert text.startswith("主OA (oa2): would delete 4 records triggered before ")
    assert "(success 2, ignored 1, pending 1; oldest " in text


def test_it_runs_as_beat_calls_it_and_skips_a_config_whose_cleanup_is_off(log):
    config, _old, recent, _others = log
    result = cleanup_task.apply(args=[config.pk]).get()
    assert (result["total"], result["counts"]) == (4, {"success": 2, "ignored": 1, "pending": 1})
    assert cleanup_task.apply(args=[config.pk]).get()["total"] == 0  # idempotent
    config.cleanup_enabled = False
    config.save()
    record(config, "success", 100)
    assert cleanup_task.apply(args=[config.pk]).get()["skipped"] == "cleanup off"
    assert PushRecord.objects.filter(config=config).count() == 2 + len(recent) + 1
    assert cleanup_task.apply(args=[987654]).get() is None


# -- the management command --------------------------------------------------------------------
def command(*args):
    out = StringIO()
    with translation.override("en"):
        call_command("cleanup_push_log", *args, stdout=out)
    return out.getvalue()


def test_it_dry_runs_from_the_command_by_identifier_or_id_deleting_nothing(log):
    config, _old, _recent, _others = log
    before = PushRecord.objects.count()
    out = command("--config", "oa2", "--dry-run")
    assert "主OA (oa2): would delete 4 records" in out
    assert "(success 2, ignored 1, pending 1;" in out
    assert command("--config", str(config.pk), "--dry-run") == out
    assert PushRecord.objects.count() == before


def test_it_cleans_every_config_with_cleanup_on_from_the_command(log):
    config, _old, _recent, others = log
    quiet = make_config(URL, identifier="quiet")
    kept = record(quiet, "success", 400)
    out = command()
    assert "主OA (oa2): deleted 4 records" in out
    assert "主OA (other): deleted 2 records" in out
    assert "quiet" not in out
    assert PushRecord.objects.filter(pk=kept.pk).exists()
    assert not PushRecord.objects.filter(pk__in=[r.pk for r in others]).exists()


def test_it_refuses_an_unknown_config_and_a_real_run_where_cleanup_is_off(log):
    quiet = make_config(URL, identifier="quiet")
    kept = record(quiet, "success", 400)
    with pytest.raises(CommandError, match="No push config with the id or identifier “nope”"):
        command("--config", "nope")
    for odd in ("²", "9" * 30):  # digits int() or bigint refuses
        with pytest.raises(CommandError, match="No push config with the id or identifier"):
            command("--config", odd)
    with pytest.raises(CommandError, match="Cleanup is off for"):
        command("--config", "quiet")
    assert "would delete 1 record triggered" in command("--config", "quiet", "--dry-run")
    assert PushRecord.objects.filter(pk=kept.pk).exists()


# -- the admin action --------------------------------------------------------------------------
def test_it_offers_a_dry_run_action_in_the_admin_that_deletes_nothing(client, admin, log):
    config, _old, _recent, _others = log
    client.force_login(admin)
    before = PushRecord.objects.count()
    page = client.post(reverse("admin:pushconfig_pushconfig_changelist"),
                       {"action": "dry_run_cleanup", "_selected_action": [config.pk]},
                       follow=True, **EN).content.decode()
    assert "主OA (oa2): would delete 4 records triggered before" in page
    assert "(success 2, ignored 1, pending 1; oldest" in page
    assert PushRecord.objects.count() == before


def test_it_keeps_a_record_a_worker_is_sending_right_now():
    config = make_config(URL, cleanup_enabled=True, cleanup_keep_days=30)
    sending = record(config, "pending", 90, attempts=0)
    flight = in_flight(sending, started_at=timezone.now())
    assert not cleanup.expired(config).filter(pk=sending.pk).exists()
    flight.started_at = timezone.now() - timedelta(hours=1)  # a crash long ago: not in flight
    flight.save()
    assert cleanup.expired(config).filter(pk=sending.pk).exists()


def test_a_run_deletes_around_a_record_a_worker_is_sending_right_now(log):
    config, old, _recent, _others = log
    sending = record(config, "pending", 90, attempts=0)
    in_flight(sending, started_at=timezone.now())
    report = cleanup.run(config, chunk=2)
    assert report.total == 4 and report.counts == {"success": 2, "ignored": 1, "pending": 1}
    assert PushRecord.objects.filter(pk=sending.pk).exists()
