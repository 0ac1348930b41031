"""A batch push task in the browser: an administrator previews how many todo items a
realtime push to the demo's sandbox config would take, creates the task, and watches its
progress bar fill while the real worker runs it on the batch queue, until it succeeds."""
import re
import time

import pytest

from .conftest import ARTIFACTS, DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def test_it_creates_a_batch_task_and_watches_it_finish(console, browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{console.base_url}/admin/login/?next=/admin/pushconfig/pushtask/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", DEMO_PASSWORD)
        page.click("#login-form [type=submit]")
        page.wait_for_url("**/admin/pushconfig/pushtask/**")

        page.goto(f"{console.base_url}/admin/pushconfig/pushtask/add/")
        page.check("input[name=mode][value=realtime]")
        option = page.locator("#id_config option", has_text="sandbox-demo")
        page.select_option("#id_config", option.get_attribute("value"))
        page.click("#batch-preview")
        result = page.locator("#batch-preview-result[data-count]")
        result.wait_for(timeout=15000)
        count = int(result.get_attribute("data-count"))
        assert count > 0, result.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "batch-task-add.png"), full_page=True)

        page.click("input[name=_save]")
        page.wait_for_url("**/admin/pushconfig/pushtask/")
        bar = page.locator(".batch-progress").first
        task_id = bar.get_attribute("data-task")
        assert re.search(rf"#{task_id}\D.*{count}", page.inner_text(".messagelist")), \
            page.inner_text(".messagelist")

        # No reload: the page's own poll moves the bar and the status.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if bar.get_attribute("data-status") in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        assert bar.get_attribute("data-status") == "succeeded", console.log()[-4000:]
        assert bar.inner_text().strip() == "100%"
        assert page.locator(f'.batch-done[data-task="{task_id}"]').inner_text() == str(count)
        assert page.locator(f'.batch-failed[data-task="{task_id}"]').inner_text() == "0"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "batch-task.png"), full_page=True)

        # The detail shows the task read-only, with no failures to export.
        page.goto(f"{console.base_url}/admin/pushconfig/pushtask/{task_id}/change/")
        assert "sandbox-demo" in page.inner_text("#content")
        export = page.locator(f'a[href$="/pushtask/{task_id}/failures.xlsx"]')
        assert export.count() == 1
        page.screenshot(path=str(ARTIFACTS / "batch-task-detail.png"), full_page=True)
    finally:
        context.close()
