"""An administrator builds an action flow in the browser — an HTTP request to a real receiver,
a branch on its status code, an output step per arm — saves it (version 1), runs it from
"Run now" with an input, and watches the run succeed on its page, executed by the console's
real worker on the flows queue, with every step's log."""
import json
import time

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.receivers import Answer, Receiver

from .conftest import ARTIFACTS, DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def steps(receiver_url):
    return [
        ("call", "http", {
            "method": "POST", "url": receiver_url + "/tickets/{{ urlencode(input.request_id) }}",
            "body": {"title": "{{ input.title }}"}, "outputs": {"ticket": "data.ticket"}}),
        ("decide", "branch", {
            "branches": [{"name": "created", "conditions": [
                {"left": "{{ steps.call.status_code }}", "operator": "equals",
                 "right": "200"}], "steps": ["created"]}],
            "otherwise": ["refused"]}),
        ("created", "output", {
            "status": "success",
            "message": "ticket {{ steps.call.ticket }} for {{ input.request_id }}"}),
        ("refused", "output", {
            "status": "failed", "message": "HTTP {{ steps.call.status_code }}"}),
    ]


def run_status(page):
    """The run page's status, or None while it reloads itself."""
    try:
        return page.inner_text(".field-status .readonly", timeout=2000).strip()
    except PlaywrightError:
        return None


def test_it_builds_a_flow_runs_it_and_shows_the_step_logs(console, browser):
    receiver = Receiver(Answer(body={"code": "0", "data": {"ticket": "T-9"}}))
    context = browser.new_context(locale="en-US", viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{console.base_url}/admin/login/?next=/admin/actionflow/actionflow/add/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", DEMO_PASSWORD)
        page.click("#login-form [type=submit]")
        page.wait_for_url("**/admin/actionflow/actionflow/add/")

        page.fill("#id_name", "browser-ticket")
        page.select_option("#id_trigger", "called")
        # Only the chosen trigger's settings are shown.
        assert page.locator("fieldset.flow-trigger-schedule").is_hidden()
        for index, (key, kind, config) in enumerate(steps(receiver.url)):
            if index:
                page.click("#steps-group .add-row a")
            prefix = f"#id_steps-{index}-"
            page.fill(prefix + "order", str(index + 1))
            page.fill(prefix + "key", key)
            page.select_option(prefix + "kind", kind)
            page.fill(prefix + "config", json.dumps(config, ensure_ascii=False, indent=2))
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "flow-add.png"), full_page=True)
        page.click("input[name=_continue]")
        page.wait_for_selector(".messagelist")
        assert "Version 1 of “browser-ticket” was published." in page.inner_text(".messagelist")

        page.click("a.flow-run-now")
        page.wait_for_selector("#flow-run-form")
        page.fill("#id_input", json.dumps({"request_id": "1001", "title": "出差申请"},
                                          ensure_ascii=False))
        page.click("input[name=_run]")
        page.wait_for_url("**/admin/actionflow/flowrun/*/change/")

        # The page follows the run (it reloads itself until the run ends).
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline:
            status = run_status(page)
            if status in ("Succeeded", "Failed"):
                break
            time.sleep(0.5)
        assert status == "Succeeded", console.log()[-4000:]
        assert page.inner_text(".field-message .readonly").strip() == "ticket T-9 for 1001"
        assert page.inner_text(".field-trigger .readonly").strip() == "Manual (admin)"

        rows = page.locator("#steps-group tbody tr.has_original, #steps-group tbody tr.form-row")
        logged = [row.locator("td.field-key").inner_text().strip()
                  for row in rows.all() if row.locator("td.field-key").count()]
        assert logged == ["call", "decide", "created"]
        call = page.locator("#steps-group td.field-output_pretty").first.inner_text()
        assert '"status_code": 200' in call and '"ticket": "T-9"' in call
        page.screenshot(path=str(ARTIFACTS / "flow-run.png"), full_page=True)

        [request] = receiver.requests
        assert (request.method, request.path) == ("POST", "/tickets/1001")
        assert request.json() == {"title": "出差申请"}
    finally:
        context.close()
        receiver.close()
