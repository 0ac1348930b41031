"""A flow names who is told when its runs fail: each channel sends once per failed run (email
to a real SMTP sink, IM to a fake WeCom on 127.0.0.1); successes tell nobody."""
import pytest

from actionflow import alerts, engine
from actionflow.models import FlowRun
from tests.integration.test_notify_support import im_account, person, smtp, wecom

from .helpers import make_flow

pytestmark = pytest.mark.django_db
__all__ = ["smtp", "wecom"]  # fixtures, imported to be used by name

FAIL = [{"key": "stop", "kind": "output",
         "config": {"status": "failed", "message": "归档失败：{{ input.why }}"}}]


@pytest.fixture
def watched_flow(settings, smtp, wecom):
    settings.LANGUAGE_CODE = "en"
    im_account(wecom)
    flow = make_flow("archive-check", steps=FAIL, alert_channels=["email", "im"])
    flow.alert_persons.set([person("zhangsan")])
    return flow


def test_a_failed_run_alerts_each_channel_once(watched_flow, smtp, wecom,
                                               django_capture_on_commit_callbacks):
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = engine.run_now(watched_flow, FlowRun.Trigger.API, {"why": "目标不可达"})
    finally:
        app.conf.task_always_eager = False
    assert run.status == "failed"
    [mail] = smtp.mails
    assert mail.subject == "Action flow failed: archive-check"
    assert "归档失败：目标不可达" in mail.body and f"Run #{run.pk}" in mail.body
    [message] = wecom.sent
    assert "archive-check" in message["text"]["content"]
    assert alerts.alert_failed_run(run.pk) == []      # a redelivered task sends nothing
    assert len(smtp.mails) == 1 and FlowRun.objects.get(pk=run.pk).alerted_at


def test_a_successful_run_alerts_nobody(watched_flow, smtp):
    watched_flow.steps.update(config={"status": "success"})
    from actionflow.definition import publish

    publish(watched_flow)
    run = engine.run_now(watched_flow, FlowRun.Trigger.API, {})
    assert run.status == "success"
    assert alerts.alert_failed_run(run.pk) == [] and not smtp.mails
