"""The console as a newcomer meets it: started like the README starts it, logged into with the
password the demo printed, showing the demo's todo items; worker and beat running beside it."""
import re
import socket
import time

import pytest

from .conftest import ARTIFACTS, DEMO_PASSWORD

pytestmark = pytest.mark.e2e

# The demo's todo items (integration/management/commands/demo.py): 9 items over 5 requests,
# one of them for a receiver the directory does not know.
DEMO_REQUEST_IDS = ["DEMO-1001", "DEMO-1002", "DEMO-1003", "DEMO-1004", "DEMO-1005"]


def test_it_starts_the_console_and_shows_the_demo_todos_in_the_admin(console, browser):
    # The demo printed the login a newcomer needs.
    assert "username:  admin" in console.demo_output
    assert f"password:  {DEMO_PASSWORD}" in console.demo_output
    assert re.search(r"API token: [0-9a-f]{40}", console.demo_output)

    context = browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{console.base_url}/admin/login/?next=/admin/integration/todoitem/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", DEMO_PASSWORD)
        page.click("#login-form [type=submit]")
        page.wait_for_url("**/admin/integration/todoitem/**", timeout=30_000)

        rows = page.locator("#result_list tbody tr")
        assert rows.count() == 9
        table = page.inner_text("#result_list")
        for request_id in DEMO_REQUEST_IDS:
            assert request_id in table
        assert "费用报销-张伟-上海差旅费" in table
        assert "zhaoqiang" in table  # the receiver the directory does not know

        # The admin's own CSS is served (runconsole serves static files with DEBUG off).
        css = page.request.get(f"{console.base_url}/static/admin/css/base.css")
        assert css.ok

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "todo-items.png"), full_page=True)
    finally:
        context.close()

    # The console is still up, with its three children.
    assert console.process.poll() is None, console.log()
    children = " | ".join(console.children().values())
    assert "runserver" in children
    assert " worker " in children, children
    assert " beat " in children, children

    # The worker answers over the broker.
    ping = console.celery("inspect", "ping", "-d", f"console-{console.port}@{socket.gethostname()}",
                          "--timeout", "20")
    assert ping.returncode == 0 and "pong" in ping.stdout, ping.stdout + ping.stderr

    # Beat reads its schedule from the database and the worker runs what it sends.
    schedule = console.manage("shell", "-c", (
        "from django_celery_beat.models import IntervalSchedule, PeriodicTask\n"
        "every, _ = IntervalSchedule.objects.get_or_create(every=1, period='seconds')\n"
        "PeriodicTask.objects.update_or_create(name='e2e-beat-check', defaults={"
        "'interval': every, 'task': 'celery.backend_cleanup'})\n"
    ))
    assert schedule.returncode == 0, schedule.stdout + schedule.stderr
    deadline = time.monotonic() + 60
    while not re.search(r"worker\s*\|.*celery\.backend_cleanup\[.*\] succeeded", console.log()):
        assert console.process.poll() is None, console.log()
        assert time.monotonic() < deadline, \
            "beat did not send the scheduled task to the worker:\n" + console.log()[-5000:]
        time.sleep(0.5)
    assert re.search(r"beat\s*\|.*Sending due task e2e-beat-check", console.log())
