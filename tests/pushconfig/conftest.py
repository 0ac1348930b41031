import json
import socket

import pytest

from pushconfig.delivery import open_records, run_lane
from pushconfig.models import InFlightBatch, PushConfig
from tests.receivers import Answer, Receiver

ECOLOGY_OK = {"syscode": "OA", "dataType": "", "operType": "", "operResult": "1", "message": ""}


@pytest.fixture
def receiver():
    server = Receiver(Answer(body=ECOLOGY_OK))
    yield server
    server.close()


def make_config(url, **overrides):
    values = {"enabled": True, "identifier": "oa2", "system_name": "主OA", "server_url": url,
              "push_type": "ecology"}
    values.update(overrides)
    params = values.pop("params", {"sysCode": "OA", "toViewRemark": False})
    config = PushConfig(**values)
    config.full_clean()
    config.set_params(params)
    config.save()
    return config


def deliver_all(config, rounds=20):
    """Run every lane with open records until nothing is due (as workers would)."""
    for _ in range(rounds):
        lanes = set(open_records(config.pk).values_list("lane", flat=True))
        if not lanes:
            return
        progressed = False
        for lane in sorted(lanes):
            run = run_lane(config.pk, lane)
            progressed |= bool(run and run.sent)
        if not progressed:
            return


def in_flight(*records, started_at):
    """What a worker writes before a batch's first call — and what a crash leaves of it."""
    records = sorted(records, key=lambda r: r.pk)
    return InFlightBatch.objects.create(
        config_id=records[0].config_id, lanes=sorted({r.lane for r in records}),
        tries=[[r.pk, r.attempts + 1] for r in records], first_record=records[0].pk,
        last_record=records[-1].pk, started_at=started_at)


def post_events(api, *events):
    """Events in through the real inbox, as the OA sends them."""
    r = api.post("/api/v1/todo-events/", json.dumps(list(events)), content_type="application/json")
    assert r.status_code in (200, 201), r.content
    return r


def closed_port():
    """A port on 127.0.0.1 that was just free: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def closed_port_url():
    return f"http://127.0.0.1:{closed_port()}"


def send_directly(config):
    """The transport's deliveries for the open records, without the pipeline (which keeps
    only the outcome, not retry_after)."""
    from pushconfig.delivery import transport_for
    from pushconfig.items import build_items

    records = list(open_records(config.pk).order_by("id"))
    items, _refused = build_items(config, records)
    return transport_for(config).send(items)
