"""The Landray (SOAP) push types against a real SOAP 1.1 service on 127.0.0.1 (tests/soap_server):
the operation and fields of each state, the credentials header, how every answer and failure is
classified, the connection test, the remove-history type and parameter validation."""
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation
from lxml import etree

from integration.models import Person
from pushconfig.delivery import session_for, transport_for
from pushconfig.models import PushAttempt, PushRecord
from pushconfig.transports import PushItem, landray
from pushconfig.transports.landray import LandrayParams, LandrayTransport
from pushconfig.transports.landray_remove import LandrayRemoveHistoryTransport
from tests.integration.helpers import todo_event
from tests.soap_server import HEADER_NS, SoapServer

from .conftest import closed_port_url, deliver_all, make_config

pytestmark = pytest.mark.django_db
PASSWORD = "s3cret-pw"
PARAMS = {"appName": "OA", "username": "ekp-ws", "password": PASSWORD,
          "oaAddress": "https://oa.example.com/", "ekpUserKey": "LoginName"}


@pytest.fixture
def soap():
    server = SoapServer(user=PARAMS["username"], password=PASSWORD)
    yield server
    server.close()


def landray_config(url, **overrides):
    params = {**PARAMS, **overrides.pop("params", {})}
    return make_config(url, push_type="landray_soap", params=params, **overrides)


def post(api, *events):
    r = api.post("/api/v1/todo-events/", json.dumps(list(events)), content_type="application/json")
    assert r.status_code in (200, 201), r.content
    assert all(x["outcome"] == "accepted" for x in r.json()["results"]), r.content


def record_of(config):
    return PushRecord.objects.get(config=config)


# -- what each state sends ----------------------------------------------------------------

def test_it_sends_a_todo_as_sendTodo_with_every_field_mapped(api, soap):
    config = landray_config(soap.url)
    post(api, todo_event(request_id="1001", receiver="lisi", creator="zhangsan",
                         request_title="出差申请-张三", workflow_id="wf-travel",
                         created_at="2026-11-20T09:00:00+08:00"))
    deliver_all(config)
    assert soap.operations() == ["sendTodo"]
    fields = soap.calls[0].fields
    assert fields["appName"] == "OA"
    assert fields["modelName"] == "oa.request"
    assert fields["modelId"] == "1001:lisi:"
    assert fields["subject"] == "出差申请-张三"
    assert fields["link"] == "http://127.0.0.1:8000/workflow/request/ViewRequest.jsp?requestid=1001"
    assert fields["mobileLink"] == "http://127.0.0.1:8000/mobile/plugin/1/view.jsp?requestid=1001"
    assert fields["type"] == "1"
    assert json.loads(fields["targets"]) == {"LoginName": "lisi"}
    assert json.loads(fields["docCreator"]) == {"LoginName": "zhangsan"}
    assert fields["createTime"] == "2026-11-20 09:00:00"
    assert fields["level"] == "3"
    assert (fields["key"], fields["param1"]) == ("1001", "wf-travel")
    assert "optType" not in fields
    assert record_of(config).outcome == "success"


def test_it_formats_createTime_in_the_console_time_zone(api, soap):
    config = landray_config(soap.url)
    post(api, todo_event(created_at="2026-11-20T01:30:05Z"))
    deliver_all(config)
    assert soap.calls[0].fields["createTime"] == "2026-11-20 09:30:05"


def test_it_sends_a_carbon_copy_as_a_to_read_todo(api, soap):
    config = landray_config(soap.url)
    post(api, todo_event(business_status="cc"))
    deliver_all(config)
    assert soap.operations() == ["sendTodo"]
    assert soap.calls[0].fields["type"] == "2"


def test_it_marks_one_persons_todo_done_with_setTodoDone_and_its_targets(api, soap):
    config = landray_config(soap.url)
    post(api, todo_event(receiver="lisi", identity="pt-1"))
    post(api, todo_event(receiver="lisi", identity="pt-1", data_set="done",
                         business_status="approve", occurred_at="2026-11-20T11:00:00+08:00"))
    deliver_all(config)
    assert soap.operations() == ["sendTodo", "setTodoDone"]
    sent, done = soap.calls[0].fields, soap.calls[1].fields
    assert done["modelId"] == sent["modelId"] == "1001:lisi:pt-1"
    assert done["optType"] == "2"
    assert json.loads(done["targets"]) == {"LoginName": "lisi"}
    assert (done["appName"], done["modelName"]) == ("OA", "oa.request")
    assert "subject" not in done and "type" not in done


def test_it_marks_a_finished_request_done_with_setTodoDone(api, soap):
    config = landray_config(soap.url)
    post(api, todo_event(data_set="over", business_status="archive"))
    deliver_all(config)
    assert soap.operations() == ["setTodoDone"]
    assert soap.calls[0].fields["optType"] == "2"
    assert json.loads(soap.calls[0].fields["targets"]) == {"LoginName": "lisi"}


def test_it_deletes_one_persons_todo_with_deleteTodo_optType_2(api, soap):
    config = landray_config(soap.url)
    post(api, todo_event(data_set="delete", business_status="delete", receiver="wangwu"))
    deliver_all(config)
    assert soap.operations() == ["deleteTodo"]
    fields = soap.calls[0].fields
    assert (fields["optType"], fields["modelId"]) == ("2", "1001:wangwu:")
    assert json.loads(fields["targets"]) == {"LoginName": "wangwu"}


def test_it_keys_targets_and_creator_by_the_chosen_ekpUserKey(api, soap):
    Person.objects.create(external_id="u1", login_id="lisi", name="李四", work_code="0042")
    Person.objects.create(external_id="u2", login_id="zhangsan", name="张三", work_code="0007")
    config = landray_config(soap.url, person_mapping="work_code",
                            params={"ekpUserKey": "PersonNo"})
    post(api, todo_event(receiver="lisi", creator="zhangsan"))
    deliver_all(config)
    fields = soap.calls[0].fields
    assert json.loads(fields["targets"]) == {"PersonNo": "0042"}
    assert json.loads(fields["docCreator"]) == {"PersonNo": "0007"}
    assert fields["modelId"] == "1001:lisi:"  # our login id: stable if the mapping is edited


def test_it_carries_the_credentials_in_the_RequestSOAPHeader(api, soap):
    config = landray_config(soap.url)
    post(api, todo_event())
    deliver_all(config)
    call = soap.calls[0]
    assert call.header == {f"{{{HEADER_NS}}}user": "ekp-ws", f"{{{HEADER_NS}}}password": PASSWORD}
    assert call.soap_action == '""'
    assert call.content_type.startswith("text/xml")
    envelope = etree.fromstring(call.body)
    assert etree.QName(envelope).localname == "Envelope"
    assert soap.refused == []


def test_it_logs_the_arguments_with_the_password_masked_and_the_raw_answer(api, soap):
    config = landray_config(soap.url)
    post(api, todo_event())
    deliver_all(config)
    attempt = PushAttempt.objects.get()
    assert attempt.request["operation"] == "sendTodo"
    assert attempt.request["user"] == "ekp-ws"
    assert attempt.request["password"] != PASSWORD and attempt.request["password"].startswith("•")
    assert PASSWORD not in json.dumps(attempt.request, ensure_ascii=False)
    assert attempt.request["arg0"]["modelId"] == "1001:lisi:"
    assert "<returnState>2</returnState>" in attempt.response
    assert attempt.http_status == 200 and attempt.outcome == "success"


def test_it_links_relative_addresses_to_oaAddress():
    config = landray_config("http://127.0.0.1:9")
    transport = LandrayTransport(config, config.get_params())
    when = datetime(2026, 11, 20, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    item = PushItem(record_id=1, idempotency_key="k", data_set="todo", business_status="arrive",
                    request_id="7", title="t", workflow_id="wf", workflow_name="wf",
                    node_name="n", creator="", receiver="lisi", receiver_login="lisi",
                    identity="", created_at=when, occurred_at=when, viewed=False,
                    pc_url="/workflow/request/ViewRequest.jsp?requestid=7",
                    app_url="https://m.example.com/view?id=7")
    operation, arg0 = transport.arg0(item)
    assert operation == "sendTodo"
    assert arg0["link"] == "https://oa.example.com/workflow/request/ViewRequest.jsp?requestid=7"
    assert arg0["mobileLink"] == "https://m.example.com/view?id=7"
    assert arg0["docCreator"] is None
    item.pc_url = item.app_url = ""
    operation, arg0 = transport.arg0(item)
    assert (arg0["link"], arg0["mobileLink"]) == ("https://oa.example.com", None)


# -- how answers and failures are classified ------------------------------------------------

def test_it_fails_permanently_on_returnState_1_with_the_message(api, soap):
    soap.return_state, soap.message = 1, "接收人不存在: lisi"
    config = landray_config(soap.url)
    post(api, todo_event())
    deliver_all(config)
    record = record_of(config)
    assert (record.outcome, record.permanent) == ("failed", True)
    assert "接收人不存在: lisi" in record.reason
    assert record.next_attempt_at is None
    assert "接收人不存在" in PushAttempt.objects.get().response


def test_it_retries_a_returnState_1_whose_message_says_the_target_is_busy(api, soap):
    soap.return_state, soap.message = 1, "系统繁忙，请稍后再试"
    config = landray_config(soap.url)
    post(api, todo_event())
    deliver_all(config)
    record = record_of(config)
    assert (record.outcome, record.permanent) == ("failed", False)
    assert record.next_attempt_at is not None


def test_it_retries_returnState_0(api, soap):
    soap.return_state = 0
    config = landray_config(soap.url)
    post(api, todo_event())
    deliver_all(config)
    record = record_of(config)
    assert (record.outcome, record.permanent) == ("failed", False)
    assert "returnState 0" in record.reason
    assert record.next_attempt_at is not None


def test_it_fails_permanently_on_a_client_fault_for_a_wrong_password(api, soap):
    config = landray_config(soap.url, params={"password": "wrong"})
    post(api, todo_event())
    deliver_all(config)
    record = record_of(config)
    assert (record.outcome, record.permanent) == ("failed", True)
    assert "authentication failed" in record.reason
    assert soap.refused == ["authentication failed"]
    attempt = PushAttempt.objects.get()
    assert attempt.http_status == 500
    assert "soap:Client" in attempt.response
    assert "wrong" not in json.dumps(attempt.request)


def test_it_retries_a_server_fault_with_http_500(api, soap):
    soap.mode = "server_fault"
    config = landray_config(soap.url)
    post(api, todo_event())
    deliver_all(config)
    record = record_of(config)
    assert (record.outcome, record.permanent) == ("failed", False)
    assert "NullPointerException" in record.reason
    assert record.next_attempt_at is not None
    assert PushAttempt.objects.get().http_status == 500


def test_it_retries_an_http_503_that_is_not_soap(api, soap):
    soap.mode = "html_503"
    config = landray_config(soap.url)
    post(api, todo_event())
    deliver_all(config)
    record = record_of(config)
    assert (record.outcome, record.permanent) == ("failed", False)
    assert "503" in record.reason


def test_it_fails_permanently_when_the_path_is_not_the_web_service(api, soap):
    config = landray_config(soap.url + "/ekp")  # the service answers 404 under another path
    post(api, todo_event())
    deliver_all(config)
    record = record_of(config)
    assert (record.outcome, record.permanent) == ("failed", True)
    assert "404" in record.reason


def test_it_retries_when_the_port_is_closed(api):
    config = landray_config(closed_port_url())
    post(api, todo_event())
    deliver_all(config)
    record = record_of(config)
    assert (record.outcome, record.permanent) == ("failed", False)
    assert "Cannot connect" in record.reason or "无法连接" in record.reason
    assert PushAttempt.objects.get().error_class == "TransportError"


def test_it_delivers_once_the_target_recovers(api, soap):
    soap.mode = "server_fault"
    config = landray_config(soap.url)
    post(api, todo_event())
    deliver_all(config)
    soap.mode = "ok"
    PushRecord.objects.update(next_attempt_at=timezone.now())  # the retry comes due
    deliver_all(config)
    record = record_of(config)
    assert (record.outcome, record.attempts) == ("success", 2)
    assert soap.operations() == ["sendTodo", "sendTodo"]


# -- the client cache -----------------------------------------------------------------------

def test_it_reuses_the_client_until_the_config_changes(soap):
    config = landray_config(soap.url)
    first = transport_for(config).client_and_service()[0]
    assert transport_for(config).client_and_service()[0] is first
    config.system_name = "蓝凌"
    config.save()
    assert transport_for(config).client_and_service()[0] is not first


def test_it_keeps_the_sessions_user_agent(soap):
    config = landray_config(soap.url)
    transport_for(config).client_and_service()
    assert session_for(config).headers["User-Agent"] == "oa-integration-console/1"
    assert "file://" not in session_for(config).adapters


def test_it_ships_a_wsdl_with_the_six_operations(soap):
    import zeep

    client = zeep.Client(soap.url + landray.ENDPOINT + "?wsdl")
    port = client.wsdl.services["ISysNotifyTodoWebServiceService"].ports[
        "ISysNotifyTodoWebServicePort"]
    assert set(port.binding._operations) == {"sendTodo", "deleteTodo", "setTodoDone", "getTodo",
                                             "getTodoCount", "updateTodo"}


# -- connection test ------------------------------------------------------------------------

def test_it_passes_the_connection_test_with_getTodoCount(soap):
    soap.message = '{"count":3}'
    config = landray_config(soap.url)
    result = transport_for(config).test_connection()
    assert result.ok, result.reason
    assert '{"count":3}' in result.reason
    assert soap.operations() == ["getTodoCount"]
    assert json.loads(soap.calls[0].fields["target"]) == {"LoginName": "ekp-ws"}
    assert result.request["password"] != PASSWORD


def test_it_fails_the_connection_test_with_a_wrong_password(soap):
    config = landray_config(soap.url, params={"password": "wrong"})
    result = LandrayTransport(config, config.get_params()).test_connection()
    assert not result.ok and result.permanent
    assert "authentication failed" in result.reason


def test_it_fails_the_connection_test_when_nothing_listens(db):
    config = landray_config(closed_port_url())
    result = transport_for(config).test_connection()
    assert not result.ok and not result.permanent


def test_it_runs_the_connection_test_of_the_remove_history_type(soap):
    config = make_config(soap.url, push_type="landray_remove_history",
                         params={k: PARAMS[k] for k in ("appName", "username", "password")})
    result = transport_for(config).test_connection()
    assert result.ok, result.reason
    assert soap.operations() == ["getTodoCount"]


# -- remove history -------------------------------------------------------------------------

def test_it_removes_history_with_deleteTodo_optType_1_for_every_item(api, soap):
    config = make_config(soap.url, push_type="landray_remove_history",
                         params={k: PARAMS[k] for k in ("appName", "username", "password")})
    assert config.implementation == "WPushRemoveLanLingToSOAP"
    post(api, todo_event(receiver="lisi"), todo_event(receiver="wangwu", data_set="done",
                                                       business_status="approve"))
    deliver_all(config)
    assert soap.operations() == ["deleteTodo", "deleteTodo"]
    by_id = {call.fields["modelId"]: call.fields for call in soap.calls}
    assert set(by_id) == {"1001:lisi:", "1001:wangwu:"}
    for fields in by_id.values():
        assert fields["optType"] == "1"
        assert (fields["appName"], fields["modelName"]) == ("OA", "oa.request")
        assert "targets" not in fields
    assert set(PushRecord.objects.values_list("outcome", flat=True)) == {"success"}
    assert PASSWORD not in json.dumps(list(PushAttempt.objects.values_list("request", flat=True)))


def test_it_warns_that_remove_history_needs_a_history_re_push():
    with translation.override("en"):
        assert "history re-push" in str(LandrayRemoveHistoryTransport.help_text)
        shown = str(LandrayRemoveHistoryTransport.Params().fields["appName"].help_text)
        assert "history re-push" in shown and "missing" in shown
    assert set(LandrayRemoveHistoryTransport.Params().fields) == {"appName", "username",
                                                                  "password"}
    assert LandrayRemoveHistoryTransport.secret_params == ("password",)


# -- parameters -----------------------------------------------------------------------------

def test_it_refuses_an_ekpUserKey_outside_the_five_and_names_it():
    params = LandrayParams(data={**PARAMS, "ekpUserKey": "Email"})
    assert not params.is_valid()
    assert set(params.errors) == {"ekpUserKey"}
    assert "Email" in str(params.errors["ekpUserKey"][0])


@pytest.mark.parametrize("key", ["Id", "PersonNo", "LoginName", "Keyword", "LdapDN"])
def test_it_accepts_each_of_the_five_ekpUserKeys(key):
    params = LandrayParams(data={**PARAMS, "ekpUserKey": key})
    assert params.is_valid(), params.errors


def test_it_requires_every_parameter_and_keeps_the_password_secret():
    params = LandrayParams(data={})
    assert not params.is_valid()
    assert set(params.errors) == {"appName", "username", "password", "oaAddress", "ekpUserKey"}
    assert set(LandrayTransport.suite_params) == set(params.fields)
    assert LandrayTransport.secret_params == ("password",)


def test_it_stores_the_password_encrypted(soap):
    config = landray_config(soap.url)
    assert config.params["password"].startswith("fernet:")
    assert config.get_params()["password"] == PASSWORD
    assert config.implementation == "WPushLanLingToSOAP"
