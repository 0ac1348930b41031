"""An administrator's first push, in the browser: create a config from the e-cology suite,
enable it, let the OA send todos, and watch them succeed in the push log."""
import json
import re
import time
import urllib.request

import pytest

from tests.receivers import Answer, Receiver

from .conftest import ARTIFACTS, DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def post_events(console, events):
    token = re.search(r"API token: ([0-9a-f]{40})", console.demo_output).group(1)
    request = urllib.request.Request(
        console.base_url + "/api/v1/todo-events/", data=json.dumps(events).encode(),
        method="POST", headers={"Content-Type": "application/json",
                                "Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_it_creates_a_config_from_a_suite_and_shows_its_pushes_in_the_log(console, browser):
    receiver = Receiver(Answer(body={"syscode": "BROWSER", "operResult": "1", "message": ""}))
    context = browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{console.base_url}/admin/login/?next=/admin/pushconfig/pushconfig/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", DEMO_PASSWORD)
        page.click("#login-form [type=submit]")
        page.wait_for_url("**/admin/pushconfig/pushconfig/**")

        page.goto(f"{console.base_url}/admin/pushconfig/pushconfig/suite/")
        page.click("a[href$='/suite/ecology/']")
        page.fill("#id_identifier", "browser-oa")
        page.fill("#id_system_name", "浏览器测试OA")
        page.fill("#id_server_url", receiver.url)
        page.fill("#id_param_sysCode", "BROWSER")
        page.click("input[name=_save]")
        page.wait_for_selector("#id_enabled")
        assert not page.is_checked("#id_enabled")  # a suite creates a disabled config
        page.check("#id_enabled")
        page.click("input[name=_save]")
        page.wait_for_url("**/admin/pushconfig/pushconfig/")

        answer = post_events(console, [{
            "event_id": f"browser-{n}", "data_set": "todo", "request_id": f"B-{n}",
            "request_title": f"浏览器推送 {n}", "workflow_id": "wf-b", "node_name": "审批",
            "creator": "zhangwei", "receiver": f"user{n}",
            "occurred_at": "2026-11-20T09:00:00+08:00"} for n in range(3)])
        assert answer["accepted"] == 3

        deadline = time.monotonic() + 60
        while len(receiver.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(receiver.requests) == 3, console.log()[-3000:]
        assert {r.json()["syscode"] for r in receiver.requests} == {"BROWSER"}

        url = f"{console.base_url}/admin/pushconfig/pushrecord/?q=B-1"
        deadline = time.monotonic() + 30
        while True:
            page.goto(f"{console.base_url}/admin/pushconfig/pushrecord/?outcome__exact=success")
            table = page.inner_text("#result_list") if page.locator("#result_list").count() else ""
            if all(f"user{n}" in table for n in range(3)) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for n in range(3):
            assert f"user{n}" in table
        assert "浏览器测试OA" in table
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "push-log.png"), full_page=True)
        page.goto(url)
        assert "B-1" in page.inner_text("#result_list")
    finally:
        context.close()
        receiver.close()
