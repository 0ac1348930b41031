"""The pipeline carries the bound push addresses to the target: todos accepted by the inbox,
delivered by the workers' code to a real e-cology receiver on 127.0.0.1, whose pcurl and
appurl are the bound addresses' links, while an unbound kind keeps the OA's own link."""
import json

import pytest

from pushconfig import addresses
from pushconfig.models import CloudBridgeConfig, PushRecord
from tests.integration.helpers import todo_event
from tests.receivers import Answer, Receiver

from .conftest import ECOLOGY_OK, deliver_all, make_config
from .test_addresses_support import (
    bridge,
    fixed,
    fixed_clock,
    make_address,
    oa,
    query_of,
    system,
    variable,
)

pytestmark = pytest.mark.django_db
__all__ = ["oa"]  # a fixture, imported to be used by name

PC = "http://oa.example.com/workflow/request/ViewRequest.jsp?requestid={}"
APP = "http://oa.example.com/mobile/plugin/1/view.jsp?requestid={}"


@pytest.fixture(autouse=True)
def frozen(monkeypatch, oa):
    monkeypatch.setattr(addresses, "now", fixed_clock)


def post(api, *events):
    r = api.post("/api/v1/todo-events/", json.dumps(list(events)), content_type="application/json")
    assert r.status_code == 200, r.content


def test_it_pushes_the_bound_addresses_and_keeps_the_oa_link_for_an_unbound_kind(api, receiver):
    config = make_config(receiver.url)
    make_address(name="E10 单点登录", redirect=True, prefix="https://sso.example.com/jump",
                 params=[fixed("appid", "门户 & OA"), variable("ts", "timestamp_ms"),
                         system("target", "encoded_url")],
                 bindings=[(config, "pc")])
    post(api, todo_event(request_id="2001", request_title="出差申请 #3"))
    deliver_all(config)

    (sent,) = [r.json() for r in receiver.requests]
    assert sent["pcurl"].startswith("https://sso.example.com/jump?appid=")
    assert query_of(sent["pcurl"]) == [("appid", "门户 & OA"), ("ts", "1795136523456"),
                                       ("target", PC.format(2001))]
    assert sent["appurl"] == APP.format(2001)
    assert PushRecord.objects.get(config=config).outcome == "success"


def test_it_takes_each_kind_from_its_own_address(api, receiver):
    CloudBridgeConfig(agent_key="905296088639315968", corp_key="877800227655229441",
                      tenant_key="t4dvwhryc8").save()
    config = make_config(receiver.url)
    make_address(name="PC 跳转", redirect=True, prefix="/ecology/sso/jump.jsp",
                 params=[system("rid", "request_id"), system("url", "encoded_url")],
                 bindings=[(config, "pc")])
    make_address(name="云桥", params=[bridge("agent_key"), bridge("corp_key"),
                                      bridge("eb_tenant_key")],
                 bindings=[(config, "app adaptive")])
    post(api, todo_event(request_id="2002"), todo_event(request_id="2003", receiver="wangwu"))
    deliver_all(config)

    sent = {r.json()["flowid"]: r.json() for r in receiver.requests}
    assert set(sent) == {"2002", "2003"}
    for request_id, body in sent.items():
        assert body["pcurl"] == ("/ecology/sso/jump.jsp?rid=" + request_id + "&url="
                                 "http%3A%2F%2Foa.example.com%2Fworkflow%2Frequest%2F"
                                 "ViewRequest.jsp%3Frequestid%3D" + request_id)
        assert body["appurl"] == (APP.format(request_id)
                                  + "&wea_link_keep_ebAgentKey=905296088639315968"
                                  "&wea_link_keep_ebCorpKey=877800227655229441"
                                  "&wea_link_keep_ebTenantKey=t4dvwhryc8")


def test_it_leaves_configs_without_bindings_and_disabled_addresses_alone(api):
    bound_receiver = Receiver(Answer(body=ECOLOGY_OK))
    other_receiver = Receiver(Answer(body=ECOLOGY_OK))
    try:
        bound = make_config(bound_receiver.url, identifier="oa-bound")
        other = make_config(other_receiver.url, identifier="oa-other", system_name="其他系统")
        make_address(name="停用", enabled=False, params=[fixed("off", "1")],
                     bindings=[(bound, "pc app")])
        post(api, todo_event(request_id="2004"))
        deliver_all(bound)
        deliver_all(other)
        for receiver in (bound_receiver, other_receiver):
            (sent,) = [r.json() for r in receiver.requests]
            assert (sent["pcurl"], sent["appurl"]) == (PC.format(2004), APP.format(2004))
    finally:
        bound_receiver.close()
        other_receiver.close()


def test_it_builds_links_again_for_a_retry_so_variables_are_fresh(api, receiver, monkeypatch):
    config = make_config(receiver.url)
    make_address(name="时间戳", params=[variable("ts", "timestamp_s")], bindings=[(config, "pc")])
    answers = iter([Answer(503, "busy"), Answer(body=ECOLOGY_OK)])
    receiver.answer = lambda got: next(answers)
    post(api, todo_event(request_id="2005"))
    deliver_all(config)
    record = PushRecord.objects.get(config=config)
    assert record.outcome == "failed" and not record.permanent

    later = fixed_clock().replace(minute=30)
    monkeypatch.setattr(addresses, "now", lambda: later)
    PushRecord.objects.filter(pk=record.pk).update(next_attempt_at=later.replace(year=2000))
    deliver_all(config)
    first, second = (query_of(r.json()["pcurl"])[-1] for r in receiver.requests)
    assert first == ("ts", "1795136523")
    assert second == ("ts", str(int(later.timestamp())))
