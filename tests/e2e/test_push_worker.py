"""Todo events in over REST, pushes out through a real Celery worker to a receiver on
127.0.0.1, and the push log as expected: the whole pipeline, no shortcut."""
import json
import re
import time
import urllib.request

import pytest

from tests.receivers import Answer, Receiver

pytestmark = pytest.mark.e2e
ECOLOGY_OK = {"syscode": "E2E", "operResult": "1", "message": ""}

CREATE_CONFIG = """
from pushconfig.models import PushConfig
c = PushConfig(enabled=True, identifier="e2e", system_name="端到端", server_url="{url}",
               push_type="ecology")
c.full_clean()
c.set_params({{"sysCode": "E2E"}})
c.save()
"""

READ_LOG = """
import json
from pushconfig.models import PushRecord
print("LOG=" + json.dumps(list(PushRecord.objects.filter(config__identifier="e2e")
      .order_by("id").values_list("receiver", "data_set", "outcome"))))
"""


def api_post(console, token, path, body):
    request = urllib.request.Request(
        console.base_url + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_it_pushes_events_through_a_real_worker_to_the_target_in_order(console):
    receiver = Receiver(Answer(body=ECOLOGY_OK))
    try:
        made = console.manage("shell", "-c", CREATE_CONFIG.format(url=receiver.url))
        assert made.returncode == 0, made.stderr
        token = re.search(r"API token: ([0-9a-f]{40})", console.demo_output).group(1)
        events = []
        for n in range(5):
            for minute, data_set, status in ((1, "todo", "arrive"), (2, "done", "approve")):
                events.append({
                    "event_id": f"e2e-{n}-{data_set}", "data_set": data_set,
                    "business_status": status, "request_id": f"E2E-{n}",
                    "request_title": f"端到端测试 {n}", "workflow_id": "wf-e2e",
                    "node_name": "审批", "creator": "zhangwei", "receiver": f"user{n}",
                    "occurred_at": f"2026-11-20T09:0{minute}:00+08:00"})
        events.reverse()  # the done of each key arrives first in the list
        status, body = api_post(console, token, "/api/v1/todo-events/", events)
        assert status == 200 and body["accepted"] == 10

        deadline = time.monotonic() + 60
        while len(receiver.requests) < 10 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(receiver.requests) == 10, console.log()[-3000:]
        order = {}
        for got in receiver.requests:
            sent = got.json()
            order.setdefault(sent["receiver"], []).append(sent["isremark"])
        assert all(marks == ["0", "2"] for marks in order.values()), order

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            output = console.manage("shell", "-c", READ_LOG).stdout
            log = json.loads(re.search(r"^LOG=(.*)$", output, re.M).group(1))
            if all(outcome == "success" for _r, _d, outcome in log):
                break
            time.sleep(0.5)
        assert len(log) == 10 and {outcome for _r, _d, outcome in log} == {"success"}
    finally:
        receiver.close()
