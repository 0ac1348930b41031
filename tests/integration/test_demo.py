"""manage.py demo: the data a newcomer starts with, safe to load again and again, with a push
config aimed at the console's own sandbox so the todos flow at once."""
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import translation

from integration.models import (
    ApiToken, Department, Group, InboundEvent, PartTimeIdentity, Person, Post, Request, Role,
    Subcompany, TodoItem, Workflow, WorkflowNode, WorkflowType,
)
from integration.models.tokens import digest_of
from pushconfig import delivery
from pushconfig.models import PushConfig, PushRecord, SandboxArrival
from tests.pushconfig.conftest import deliver_all

pytestmark = pytest.mark.django_db

MODELS = [User, ApiToken, Subcompany, Department, Post, Person, Role, Group, PartTimeIdentity,
          WorkflowType, Workflow, WorkflowNode, Request, TodoItem, InboundEvent, PushConfig,
          PushRecord]


def demo(*args):
    out = StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def api_key(output):
    return output.split("API token: ")[1].split()[0]


def counts():
    return {model.__name__: model.objects.count() for model in MODELS}


def test_it_loads_the_demo_data_through_the_inbox():
    demo("--password", "pw-demo-1")
    assert counts() == {
        "User": 1, "ApiToken": 1, "Subcompany": 1, "Department": 2, "Post": 2, "Person": 6,
        "Role": 1, "Group": 1, "PartTimeIdentity": 1, "WorkflowType": 1, "Workflow": 2,
        "WorkflowNode": 7, "Request": 5, "TodoItem": 9, "InboundEvent": 17,
        "PushConfig": 1, "PushRecord": 15,
    }
    assert set(TodoItem.objects.values_list("data_set", flat=True)) == {"todo", "done", "over"}
    assert TodoItem.objects.filter(identity="demo-identity-wangfang-finance").exists()
    flagged = InboundEvent.objects.get(flagged=True)
    assert (flagged.receiver, flagged.flags) == ("zhaoqiang", ["unknown_receiver"])
    assert set(InboundEvent.objects.values_list("source", flat=True)) == {"demo"}


def test_it_is_idempotent_and_reports_the_second_runs_events_as_duplicates():
    demo("--password", "pw-demo-1")
    first = counts()
    states = list(TodoItem.objects.order_by("id").values())
    output = demo("--password", "pw-demo-2")
    assert counts() == first
    assert list(TodoItem.objects.order_by("id").values()) == states
    assert "todo events 0 new / 15 already there" in output
    assert "workflow events 0 new / 2 already there" in output
    assert "(sandbox-demo, already there, enabled)" in output


def test_it_creates_an_enabled_ecology_config_for_the_sandbox_before_the_events():
    output = demo("--password", "pw-demo-1", "--url", "http://console.example:8123/admin/")
    config = PushConfig.objects.get()
    assert (config.identifier, config.system_name, config.enabled, config.push_type) == (
        "sandbox-demo", "沙箱演示", True, "ecology")
    assert config.server_url == "http://console.example:8123/sandbox/ecology"
    assert config.get_params()["sysCode"] == "DEMO"
    # Every todo event was planned for it (none is intercepted), waiting for the worker.
    assert set(PushRecord.objects.values_list("config_id", "outcome")) == {(config.pk, "pending")}
    assert PushRecord.objects.count() == 15
    assert "(sandbox-demo, newly created, enabled)" in output
    assert "http://console.example:8123/sandbox/ecology" in output


def test_it_keeps_an_administrators_edits_and_follows_the_consoles_address():
    demo("--password", "pw-demo-1")
    config = PushConfig.objects.get()
    config.enabled = False
    config.save()
    demo("--password", "pw-demo-1", "--url", "http://10.0.0.5:9000/admin/")
    config.refresh_from_db()
    assert not config.enabled  # the administrator switched it off: it stays off
    assert config.server_url == "http://10.0.0.5:9000/sandbox/ecology"

    config.server_url = "https://oa.example.com"  # aimed at a real system now: left alone
    config.save()
    demo("--password", "pw-demo-1")
    config.refresh_from_db()
    assert config.server_url == "https://oa.example.com"
    assert PushConfig.objects.count() == 1


@pytest.fixture
def push_sessions():
    """Closes the push sessions kept per config afterwards: a kept-alive connection would hold
    a live server thread, and its database connection, open past the test."""
    yield
    delivery.close_sessions()


@pytest.mark.django_db(transaction=True)
def test_it_pushes_the_demo_todos_to_the_sandbox_at_once(live_server, monkeypatch,
                                                          push_sessions):
    monkeypatch.setattr("pushconfig.pipeline.enqueue_lanes", lambda lanes: None)  # no broker
    demo("--password", "pw-demo-1", "--url", live_server.url + "/admin/")
    config = PushConfig.objects.get(identifier="sandbox-demo")
    deliver_all(config)  # what the worker does
    assert set(PushRecord.objects.values_list("outcome", flat=True)) == {"success"}
    arrivals = SandboxArrival.objects.order_by("id")
    assert arrivals.count() == 15
    assert {a.operation for a in arrivals} == {"ReceiveRequestInfoByJson"}
    assert all(a.accepted and a.body["syscode"] == "DEMO" for a in arrivals)
    assert {a.body["flowid"] for a in arrivals} == {f"DEMO-100{n}" for n in range(1, 6)}

    demo("--password", "pw-demo-2", "--url", live_server.url + "/admin/")  # again: nothing new
    deliver_all(config)
    assert (PushRecord.objects.count(), SandboxArrival.objects.count()) == (15, 15)


def test_it_prints_the_login_and_resets_the_admin_password_each_run():
    output = demo("--password", "pw-demo-1")
    first_key = api_key(output)
    assert "username:  admin" in output
    assert "password:  pw-demo-1" in output
    assert ApiToken.objects.by_key(first_key).user.username == "admin"

    output = demo()  # no password given: a new random one
    admin = User.objects.get(username="admin")
    password = output.split("password:  ")[1].split()[0]
    assert password != "pw-demo-1"
    assert admin.check_password(password)
    assert admin.is_superuser and admin.is_staff
    # Its key cannot be shown twice: the token is issued anew, the old key stops working.
    key = api_key(output)
    assert key != first_key
    assert ApiToken.objects.get(user=admin) == ApiToken.objects.by_key(key)
    assert not ApiToken.objects.filter(digest=digest_of(first_key)).exists()


def test_it_takes_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "pw-from-env")
    demo()
    assert User.objects.get(username="admin").check_password("pw-from-env")


def test_it_sets_up_the_seeds_archive_flow_and_its_run_archives_the_expense_request(
        settings, tmp_path):
    from actionflow import engine
    from actionflow.models import ActionFlow, FlowRun
    from archiving.models import ArchiveLog

    settings.VAR_DIR = tmp_path
    output = demo("--password", "pw-demo-1")
    flow = ActionFlow.objects.get()
    assert flow.enabled and flow.version == 1 and "archives demo-wf-expense" in output
    [run] = FlowRun.objects.all()           # the manager's approval of DEMO-1001
    assert run.event_id == "demo-flow-01"
    ended = engine.execute(run.pk)
    assert ended.status == "success", (ended.message, list(ended.steps.values("key", "output")))
    log = ArchiveLog.objects.get()
    assert (log.request_id, log.outcome) == ("DEMO-1001", "success")
    assert list(tmp_path.joinpath("archive").rglob("*.zip"))
    demo("--password", "pw-demo-2")
    assert ActionFlow.objects.count() == 1 and FlowRun.objects.count() == 1


def test_it_reports_in_the_console_language_and_keeps_the_login_labels():
    with translation.override("zh-hans"):
        output = demo("--password", "pw-demo-1")
    assert "演示数据已就绪" in output and "管理后台登录" in output
    assert "username:  admin" in output and len(api_key(output)) == 40
