"""Failure alerts: a target goes down, the breaker opens, every channel of the config sends one
alert (email to a real SMTP sink, IM and cloud bridge to a fake WeCom, SMS to a gateway
receiver, all on 127.0.0.1); the target comes back, one alert more per channel. Repeated
signals and redelivered tasks send nothing twice; a failing channel is retried alone."""
import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from integration.models import Role
from pushconfig import alerts, breaker
from pushconfig.models import AlertLog, Breaker, FuseRecord, PushRecord
from pushconfig.signals import fuse_changed
from pushconfig.tasks_alerts import RETRY_COUNTDOWNS, send_fuse_alerts

from tests.integration.helpers import todo_event
from tests.integration.test_notify_support import (
    im_account,
    person,
    sms_gateway,
    sms_receiver,
    smtp,
    wecom,
)
from tests.receivers import Answer

from .conftest import ECOLOGY_OK, deliver_all, make_config, post_events

pytestmark = pytest.mark.django_db
__all__ = ["sms_receiver", "smtp", "wecom"]  # fixtures, imported to be used by name
DOWN, UP = Answer(503, "down"), Answer(body=ECOLOGY_OK)
ALL = ["im", "cloud_bridge", "email", "sms"]


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    """Run a block as workers would: on-commit callbacks fire, tasks run at once."""
    from config.celery import app

    def run(block):
        app.conf.task_always_eager = True
        try:
            with django_capture_on_commit_callbacks(execute=True):
                return block()
        finally:
            app.conf.task_always_eager = False
    return run


@pytest.fixture
def team(settings):
    """Who is alerted: two persons named, and a role holding one of them again and a third;
    an inactive member is left out. English texts, whatever the catalogue holds."""
    settings.LANGUAGE_CODE = "en"
    ops = Role.objects.create(external_id="r-ops", name="运维")
    zhang, li = person("zhangsan"), person("lisi")
    wang, gone = person("wangwu"), person("left", active=False)
    ops.members.set([li, wang, gone])
    return {"persons": [zhang, li], "roles": [ops], "expected": [zhang, li, wang]}


@pytest.fixture
def services(smtp, wecom, sms_receiver):
    im_account(wecom)
    im_account(wecom, purpose="cloud_bridge", agent_id="1000009")
    sms_gateway(sms_receiver.url)
    return {"smtp": smtp, "wecom": wecom, "sms": sms_receiver}


def alerted_config(url, team, channels=ALL, **fields):
    config = make_config(url, fuse_threshold=2, alert_channels=channels, **fields)
    config.alert_persons.set(team["persons"])
    config.alert_roles.set(team["roles"])
    return config


def fuse(api, receiver, config, eager):
    receiver.answer = DOWN
    post_events(api, *[todo_event(receiver=f"u{i}", request_id=f"R{i}") for i in range(4)])
    eager(lambda: deliver_all(config))
    assert Breaker.objects.get(config=config).state == "open"
    return FuseRecord.objects.get(config=config)


def recover(receiver, config, eager):
    receiver.answer = UP
    Breaker.objects.filter(config=config).update(probe_at=timezone.now() - timedelta(seconds=1))
    PushRecord.objects.filter(config=config).update(next_attempt_at=None)
    PushRecord.objects.filter(config=config, outcome="failed").update(outcome="pending")
    eager(lambda: deliver_all(config))
    assert Breaker.objects.get(config=config).state == "closed"


def sms_phones(services):
    return [r.json()["phone"] for r in services["sms"].requests]


def logs(fuse_record):
    return {(entry.event, entry.channel): entry for entry in fuse_record.alert_logs.all()}


# -- the whole outage --------------------------------------------------------------------------
def test_it_alerts_once_per_channel_when_a_target_fuses_and_once_when_it_recovers(
        api, receiver, eager, team, services):
    config = alerted_config(
        receiver.url, team, alert_subject="[{event}] {config}: {backlog} waiting",
        alert_content="Since {time}: {reason}. Waiting: {backlog}. Kept: {other} {config.pk}")
    record = fuse(api, receiver, config, eager)
    backlog = breaker.backlog(config)
    fused_at = timezone.localtime(record.create_time).strftime("%Y-%m-%d %H:%M:%S")
    emails = [p.email for p in team["expected"]]
    mobiles = [p.mobile for p in team["expected"]]

    [mail] = services["smtp"].mails
    assert mail.rcpt_tos == emails  # persons and role members, once each, active only
    assert mail.subject == f"[fused] 主OA: {backlog} waiting"
    assert mail.body == (f"Since {fused_at}: {record.reason}. Waiting: {backlog}. "
                         "Kept: {other} {config.pk}")
    assert "503" in record.reason
    assert sms_phones(services) == mobiles
    assert {r.json()["text"] for r in services["sms"].requests} == {mail.body}
    im, bridge = services["wecom"].sent
    assert (im["agentid"], bridge["agentid"]) == (1000002, 1000009)
    assert im["touser"] == bridge["touser"] == "zhangsan|lisi|wangwu"
    # IM and cloud bridge carry the standard text (custom text is for email and SMS)
    assert im["text"]["content"].startswith("[Push alert] 主OA is fused\n")
    assert fused_at in im["text"]["content"]
    assert {k: v.outcome for k, v in logs(record).items()} == {
        ("open", channel): "sent" for channel in ALL}

    recover(receiver, config, eager)
    record.refresh_from_db()
    recovered_at = timezone.localtime(record.recover_time).strftime("%Y-%m-%d %H:%M:%S")
    assert len(services["smtp"].mails) == 2
    again = services["smtp"].mails[1]
    assert re.fullmatch(r"\[recovered\] 主OA: \d+ waiting", again.subject)
    assert again.body.startswith(f"Since {recovered_at}: ")
    assert len(services["wecom"].sent) == 4
    assert "has recovered" in services["wecom"].sent[2]["text"]["content"]
    assert sms_phones(services) == mobiles * 2
    assert len(logs(record)) == 8
    assert {entry.outcome for entry in record.alert_logs.all()} == {"sent"}


def test_a_repeated_signal_or_a_redelivered_task_sends_nothing_more(
        api, receiver, eager, team, services):
    config = alerted_config(receiver.url, team)
    record = fuse(api, receiver, config, eager)
    sent = (len(services["smtp"].mails), len(services["wecom"].sent), len(sms_phones(services)))
    eager(lambda: fuse_changed.send(FuseRecord, fuse=record, event="open"))
    send_fuse_alerts.apply((record.pk, "open"))
    assert (len(services["smtp"].mails), len(services["wecom"].sent),
            len(sms_phones(services))) == sent == (1, 2, 3)
    assert AlertLog.objects.filter(fuse=record).count() == 4


def test_it_sends_the_standard_text_when_no_custom_text_is_set(
        api, receiver, eager, team, services):
    config = alerted_config(receiver.url, team, channels=["email"])
    record = fuse(api, receiver, config, eager)
    [mail] = services["smtp"].mails
    assert mail.subject == "[Push alert] 主OA is fused"
    assert record.reason in mail.body
    assert f"{breaker.backlog(config)} pushes are waiting" in mail.body
    assert services["wecom"].sent == [] and services["sms"].requests == []


def test_it_sends_nothing_for_a_config_without_alert_channels(api, receiver, eager, team,
                                                              services):
    config = alerted_config(receiver.url, team, channels=[])
    fuse(api, receiver, config, eager)
    assert services["smtp"].mails == [] and services["sms"].requests == []
    assert not AlertLog.objects.exists()


# -- failures ----------------------------------------------------------------------------------
def test_a_failing_channel_does_not_stop_the_others_and_is_retried_without_resending(
        api, receiver, eager, team, services):
    config = alerted_config(receiver.url, team)
    failed = []

    def gateway(got):  # lisi's SMS meets a busy gateway once
        if got.json()["phone"] == team["persons"][1].mobile and not failed:
            failed.append(got)
            return Answer(503, "busy")
        return Answer(body={"code": "0"})

    services["sms"].answer = gateway
    services["wecom"].fail_next = [-1]  # WeCom is busy for the first (IM) message
    record = fuse(api, receiver, config, eager)
    entries = logs(record)
    assert {k[1]: (v.outcome, v.attempts) for k, v in entries.items()} == {
        "im": ("sent", 2), "cloud_bridge": ("sent", 1), "email": ("sent", 1),
        "sms": ("sent", 2)}
    zhang, li, wang = (p.mobile for p in team["expected"])
    assert sms_phones(services) == [zhang, li, li, wang]  # zhangsan's SMS went once
    assert sorted(entries[("open", "sms")].reached) == sorted(p.pk for p in team["expected"])
    assert len(services["smtp"].mails) == 1
    assert len(services["wecom"].sent) == 2


def test_it_gives_up_after_its_retries_and_leaves_the_failure_visible(
        api, receiver, eager, team, services):
    config = alerted_config(receiver.url, team, channels=["email", "sms"])
    services["sms"].answer = Answer(503, "gateway down")
    record = fuse(api, receiver, config, eager)
    sms = logs(record)[("open", "sms")]
    assert (sms.outcome, sms.permanent, sms.attempts) == ("failed", False,
                                                          1 + len(RETRY_COUNTDOWNS))
    assert "503" in sms.detail and sms.sent_at is None
    assert logs(record)[("open", "email")].outcome == "sent"
    assert len(services["smtp"].mails) == 1


def test_a_permanent_failure_is_recorded_and_not_retried(api, receiver, eager, team, smtp):
    config = alerted_config(receiver.url, team, channels=["im", "email"])  # no IM account
    record = fuse(api, receiver, config, eager)
    im = logs(record)[("open", "im")]
    assert (im.outcome, im.permanent, im.attempts) == ("failed", True, 1)
    assert "No enabled account" in im.detail
    assert len(smtp.mails) == 1


def test_it_sends_at_once_when_the_broker_cannot_take_the_task(
        api, receiver, team, services, django_capture_on_commit_callbacks):
    from config.celery import app

    config = alerted_config(receiver.url, team, channels=["email"])
    receiver.answer = DOWN
    post_events(api, todo_event(receiver="u1"), todo_event(receiver="u2"))
    real_url = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    app._pool = app.amqp._producer_pool = None  # forget connections to the real broker
    try:
        with django_capture_on_commit_callbacks(execute=True):
            deliver_all(config)
    finally:
        app.conf.broker_url = real_url
        app._pool = app.amqp._producer_pool = None
    assert len(services["smtp"].mails) == 1
    assert AlertLog.objects.get().outcome == "sent"


# -- pieces --------------------------------------------------------------------------------------
def test_it_fills_only_the_known_placeholders():
    values = {"config": "OA", "time": "t", "reason": "r", "backlog": "3", "event": "fused"}
    assert alerts.fill("{config} {time} {reason} {backlog} {event} {x} {config.__class__} {",
                       values) == "OA t r 3 fused {x} {config.__class__} {"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_alerts_at_once_send_each_once(settings, smtp):
    from pushconfig.models import PushConfig

    settings.LANGUAGE_CODE = "en"
    config = PushConfig.objects.create(identifier="x", system_name="X", server_url="http://x",
                                       push_type="ecology", alert_channels=["email"])
    config.alert_persons.set([person("zhangsan")])
    record = FuseRecord.objects.create(config=config, create_time=timezone.now(), reason="r")
    barrier = threading.Barrier(4)

    def worker():
        try:
            barrier.wait()
            alerts.send_alerts(record.pk, "open")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(smtp.mails) == 1
    assert AlertLog.objects.get().outcome == "sent"
