"""The serverless Action intias_wf 1.0: the seed's inputs and outputs, every input rule, and
how archiving failures are answered."""
import pytest

from actionflow.actions import ActionContext, get_action
from archiving.models import ArchiveLog
from integration.models import Person, Request, Workflow
from tests.receivers import Answer

from .conftest import WORKFLOW_ID, directory_target, http_target, make_scheme, opinion

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_5001(workflow):
    return Request.objects.create(
        request_id="5001", title="采购合同-张三", workflow=workflow, workflow_ref=WORKFLOW_ID,
        creator="zhangsan", form_data={"title": "采购合同", "amount": 1200},
        sign_opinions=[opinion("提交", "zhangsan", "请审批")], current_node="批准")


@pytest.fixture
def schemes(workflow, tmp_path):
    target = directory_target(tmp_path)
    return {
        "a": make_scheme(workflow, target, name="合同归档A"),
        "b": make_scheme(workflow, target, name="合同归档B"),
        "moment": make_scheme(workflow, target, name="自动", trigger="moment"),
        "off": make_scheme(workflow, target, name="停用", enabled=False),
    }


def run(inputs, source="flow"):
    action = get_action("intias_wf", "1.0")()
    return action.run(inputs, ActionContext(source=source, run_id=7, flow_id=3))


def inputs(**overrides):
    values = {"workflowId": WORKFLOW_ID, "requestId": "5001", "creatorId": "zhangsan"}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not ...}


def archived_ids(result):
    return [item["schemeId"] for item in result["data"]]


# -- the contract ------------------------------------------------------------------------------
def test_it_is_registered_with_the_seeds_inputs_and_outputs():
    described = get_action("intias_wf", "1.0").describe()
    assert [(p["name"], p["type"], p["required"]) for p in described["inputs"]] == [
        ("workflowId", "text", True), ("requestId", "text", True), ("creatorId", "text", True),
        ("channelIds", "text", False)]
    assert [(p["name"], p["type"]) for p in described["outputs"]] == [
        ("code", "text"), ("msg", "text"), ("status", "boolean"), ("data", "json")]


def test_it_answers_exactly_the_declared_outputs(request_5001, schemes):
    result = run(inputs())
    assert set(result) == {"code", "msg", "status", "data"}
    assert (result["code"], result["status"]) == ("OK", True)


# -- channelIds --------------------------------------------------------------------------------
@pytest.mark.parametrize("channel_ids", [..., None, "", "   ", "[]", [], [""]])
def test_empty_channel_ids_archive_every_enabled_scheme_with_the_flow_trigger(
        request_5001, schemes, channel_ids):
    result = run(inputs(channelIds=channel_ids))
    assert result["status"] is True, result
    assert sorted(archived_ids(result)) == sorted([str(schemes["a"].pk), str(schemes["b"].pk)])
    assert ArchiveLog.objects.filter(outcome="success").count() == 2


def test_a_json_list_string_names_the_schemes(request_5001, schemes):
    a, b = schemes["a"].pk, schemes["b"].pk
    result = run(inputs(channelIds=f'["{b}","{a}"]'))
    assert result["status"] is True
    assert archived_ids(result) == [str(b), str(a)]


def test_comma_separated_text_names_the_schemes(request_5001, schemes):
    a, b, auto = schemes["a"].pk, schemes["b"].pk, schemes["moment"].pk
    result = run(inputs(channelIds=f" {a} , {auto}，{b},{a}"))
    assert result["status"] is True, result
    # Named explicitly, an automatic scheme is archived too; a repeat only once.
    assert archived_ids(result) == [str(a), str(auto), str(b)]


def test_a_list_of_ids_or_numbers_names_the_schemes(request_5001, schemes):
    a, b = schemes["a"].pk, schemes["b"].pk
    assert archived_ids(run(inputs(channelIds=[str(a), b]))) == [str(a), str(b)]
    assert archived_ids(run(inputs(channelIds=f"[{a}]"))) == [str(a)]


@pytest.mark.parametrize("channel_ids", [
    "abc", "[1,", '{"id": 1}', "[true]", "[[1]]", "1.5", "-3", "12a",
    "99999999999999999999", ["x"], [None], [True], {"id": 1}, 2.5, True,
])
def test_a_malformed_channel_ids_is_refused_naming_it(request_5001, schemes, channel_ids):
    result = run(inputs(channelIds=channel_ids))
    assert (result["code"], result["status"], result["data"]) == ("INVALID_INPUT", False, [])
    assert "channelIds" in result["msg"]
    assert not ArchiveLog.objects.exists()


def test_an_unknown_disabled_or_foreign_scheme_is_refused_and_nothing_is_archived(
        request_5001, schemes, tmp_path):
    other = Workflow.objects.create(workflow_id="wf-other", name="其他")
    foreign = make_scheme(other, directory_target(tmp_path), node_name="任意")
    a = schemes["a"].pk
    cases = [
        (f"{a},123", "UNKNOWN_SCHEME", "123"),
        (f'["{schemes["off"].pk}"]', "SCHEME_DISABLED", str(schemes["off"].pk)),
        (str(foreign.pk), "SCHEME_NOT_OF_WORKFLOW", "wf-other"),
    ]
    for channel_ids, code, named in cases:
        result = run(inputs(channelIds=channel_ids))
        assert (result["code"], result["status"]) == (code, False), result
        assert "channelIds" in result["msg"] and named in result["msg"]
    result = run(inputs(channelIds=f"123,{schemes['off'].pk}"))
    assert result["code"] == "UNKNOWN_SCHEME"
    assert "123" in result["msg"] and str(schemes["off"].pk) in result["msg"]
    assert not ArchiveLog.objects.exists()


def test_a_workflow_without_enabled_flow_schemes_is_refused(request_5001, workflow, tmp_path):
    target = directory_target(tmp_path)
    make_scheme(workflow, target, trigger="moment")
    make_scheme(workflow, target, enabled=False)
    result = run(inputs())
    assert (result["code"], result["status"]) == ("NO_SCHEME", False)
    assert WORKFLOW_ID in result["msg"]


# -- the required inputs -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["workflowId", "requestId", "creatorId"])
@pytest.mark.parametrize("value", [..., None, "", "  "])
def test_a_missing_required_input_is_refused_naming_it(request_5001, schemes, name, value):
    result = run(inputs(**{name: value}))
    assert (result["code"], result["status"], result["data"]) == ("MISSING_INPUT", False, [])
    assert name in result["msg"]
    assert not ArchiveLog.objects.exists()


@pytest.mark.parametrize("name", ["workflowId", "requestId", "creatorId"])
@pytest.mark.parametrize("value", [{"id": 1}, ["5001"], True, 1.5, "x" * 65, "a\x00b"])
def test_an_input_that_is_not_text_is_refused_naming_it(request_5001, schemes, name, value):
    result = run(inputs(**{name: value}))
    assert (result["code"], result["status"]) == ("INVALID_INPUT", False)
    assert name in result["msg"]


def test_inputs_that_are_not_an_object_are_refused(request_5001, schemes):
    result = run(["5001"])
    assert (result["code"], result["status"]) == ("INVALID_INPUT", False)


def test_numbers_are_taken_as_text(workflow, tmp_path):
    numeric = Workflow.objects.create(workflow_id="12", name="数字")
    make_scheme(numeric, directory_target(tmp_path), node_name="批准")
    Request.objects.create(request_id="900", workflow=numeric, workflow_ref="12", creator="77",
                           form_data={"title": "t"})
    result = run({"workflowId": 12, "requestId": 900, "creatorId": 77})
    assert (result["code"], result["status"]) == ("OK", True), result


def test_an_unknown_workflow_is_refused_naming_workflow_id(request_5001, schemes):
    result = run(inputs(workflowId="wf-nope"))
    assert (result["code"], result["status"]) == ("UNKNOWN_WORKFLOW", False)
    assert "workflowId" in result["msg"] and "wf-nope" in result["msg"]


def test_an_unknown_request_is_refused_naming_request_id(request_5001, schemes):
    result = run(inputs(requestId="404"))
    assert (result["code"], result["status"]) == ("UNKNOWN_REQUEST", False)
    assert "requestId" in result["msg"]


def test_a_request_of_another_workflow_is_refused(request_5001, schemes):
    Workflow.objects.create(workflow_id="wf-other", name="其他")
    result = run(inputs(workflowId="wf-other"))
    assert (result["code"], result["status"]) == ("REQUEST_NOT_OF_WORKFLOW", False)
    assert "requestId" in result["msg"]


def test_a_creator_who_did_not_create_the_request_is_refused(request_5001, schemes):
    result = run(inputs(creatorId="lisi"))
    assert (result["code"], result["status"]) == ("CREATOR_MISMATCH", False)
    assert "creatorId" in result["msg"] and "lisi" in result["msg"]
    assert not ArchiveLog.objects.exists()


def test_the_creator_may_be_named_by_the_oa_person_id(request_5001, schemes):
    person = Person.objects.create(external_id="1088", name="张三", login_id="zhangsan")
    Request.objects.filter(pk=request_5001.pk).update(creator_person=person)
    assert run(inputs(creatorId="1088"))["status"] is True


# -- archiving ---------------------------------------------------------------------------------
def test_it_exports_the_requests_current_data_and_logs_the_call(request_5001, schemes):
    result = run(inputs(channelIds=str(schemes["a"].pk)))
    entry = ArchiveLog.objects.get()
    assert result["data"] == [{
        "schemeId": str(schemes["a"].pk), "schemeName": "合同归档A", "status": True,
        "code": "OK", "msg": entry.message, "logId": str(entry.pk), "checksum": entry.checksum,
        "size": entry.size, "location": entry.location}]
    assert (entry.trigger, entry.data_source, entry.outcome) == ("flow", "current", "success")
    assert entry.operator == "flow 3 run 7"
    assert entry.exported_data["form_data.json"] == {"title": "采购合同", "amount": 1200}
    assert entry.exported_data["sign_opinions.json"][0]["opinion"] == "请审批"
    assert len(entry.checksum) == 64 and entry.size > 0


def test_over_rest_the_log_says_api(request_5001, schemes):
    run(inputs(channelIds=str(schemes["a"].pk)), source="api")
    assert ArchiveLog.objects.get().trigger == "api"


def test_one_failing_scheme_makes_status_false_and_the_others_still_archive(
        request_5001, workflow, tmp_path, receiver):
    receiver.answer = Answer(status=400, body={"code": "E1", "msg": "缺少全宗号"})
    good = make_scheme(workflow, directory_target(tmp_path), name="目录")
    bad = make_scheme(workflow, http_target(receiver.url), name="档案系统")
    result = run(inputs())
    assert (result["code"], result["status"]) == ("ARCHIVE_FAILED", False)
    assert "1 of 2" in result["msg"] and "档案系统" in result["msg"]
    by_id = {item["schemeId"]: item for item in result["data"]}
    assert by_id[str(good.pk)]["status"] is True
    assert (by_id[str(bad.pk)]["status"], by_id[str(bad.pk)]["code"]) == (False, "ARCHIVE_FAILED")
    assert len(receiver.requests) == 1  # a permanent refusal is not retried


def test_a_transient_failure_is_retried_inside_with_the_same_log_row_and_key(
        request_5001, workflow, receiver, fast_retries):
    answers = iter([Answer(status=503), Answer(body={"code": "0"})])
    receiver.answer = lambda got: next(answers)
    make_scheme(workflow, http_target(receiver.url))
    result = run(inputs())
    assert (result["code"], result["status"]) == ("OK", True), result
    entry = ArchiveLog.objects.get()
    assert (entry.attempts, entry.outcome) == (2, "success")
    keys = {r.headers["Idempotency-Key"] for r in receiver.requests}
    assert keys == {f"archive-{entry.pk}"} and len(receiver.requests) == 2


def test_a_persistent_transient_failure_answers_archive_transient(
        request_5001, workflow, receiver, fast_retries, settings):
    settings.ARCHIVE_ACTION_RETRIES = 2
    receiver.answer = Answer(status=503, body="busy")
    make_scheme(workflow, http_target(receiver.url))
    result = run(inputs())
    assert (result["code"], result["status"]) == ("ARCHIVE_TRANSIENT", False)
    assert result["data"][0]["code"] == "ARCHIVE_TRANSIENT"
    assert len(receiver.requests) == 3
    entry = ArchiveLog.objects.get()
    assert (entry.outcome, entry.permanent, entry.attempts) == ("failed", False, 3)


def test_an_unexpected_error_is_an_answer_not_an_exception(request_5001, schemes, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("archiving.action.export", broken)
    result = run(inputs())
    assert (result["code"], result["status"]) == ("INTERNAL_ERROR", False)
    assert "disk on fire" in result["msg"]
