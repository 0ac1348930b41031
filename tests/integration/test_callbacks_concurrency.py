"""The same callback posted by several callers at once (PostgreSQL): logged and applied once."""
import threading

import pytest
from django.db import connection
from django.test import Client

from integration.models import CallbackLog, CallbackSource, InboundEvent, TodoItem

from .test_callbacks_support import SLUG, TOKEN, post, task_params

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


def test_it_logs_and_applies_a_callback_sent_eight_times_at_once_exactly_once():
    CallbackSource.objects.create(name="宜搭", slug=SLUG, system_token=TOKEN, enabled=True)
    barrier = threading.Barrier(8)
    answers, errors = [None] * 8, []

    def worker(i):
        try:
            barrier.wait()
            answers[i] = post(Client(), "create", task_params())
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert [a.status_code for a in answers] == [200] * 8
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 7
    assert len({a.json()["log_id"] for a in answers}) == 1
    assert CallbackLog.objects.count() == 1
    assert InboundEvent.objects.count() == 1
    assert TodoItem.objects.get().data_set == "todo"
