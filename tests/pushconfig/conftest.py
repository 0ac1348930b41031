import pytest

from pushconfig.delivery import open_records, run_lane
from pushconfig.models import PushConfig
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
            progressed |= bool(run_lane(config.pk, lane))
        if not progressed:
            return
