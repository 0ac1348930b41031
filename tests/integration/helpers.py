"""Small builders for events and directory entries, used instead of factories."""
import itertools

_seq = itertools.count(1)


def todo_event(**overrides):
    n = next(_seq)
    event = {
        "event_id": f"ev-{n}",
        "data_set": "todo",
        "business_status": "arrive",
        "request_id": "1001",
        "request_title": "出差申请-张三",
        "workflow_id": "wf-travel",
        "node_name": "部门经理审批",
        "creator": "zhangsan",
        "receiver": "lisi",
        "created_at": "2026-11-20T09:00:00+08:00",
        "occurred_at": f"2026-11-20T09:{n % 60:02d}:00+08:00",
        "viewed": False,
    }
    event.update(overrides)
    return event


def workflow_event(**overrides):
    n = next(_seq)
    event = {
        "event_id": f"wf-ev-{n}",
        "moment": "after",
        "request_id": "1001",
        "request_title": "出差申请-张三",
        "workflow_id": "wf-travel",
        "node_name": "部门经理审批",
        "operator": "lisi",
        "creator": "zhangsan",
        "form_data": {"days": 3, "destination": "上海"},
        "sign_opinions": [{"node_name": "部门经理审批", "operator": "lisi", "opinion": "同意",
                           "signed_at": "2026-11-20T10:00:00+08:00"}],
        "occurred_at": "2026-11-20T10:00:00+08:00",
    }
    event.update(overrides)
    return event


def inbound_event(event_id, **fields):
    """An unsaved inbox row, for tests of the bulk writers."""
    import datetime as dt

    from integration.models import InboundEvent

    values = {"kind": "todo", "source": "api", "request_id": "r1", "data_set": "todo",
              "business_status": "arrive", "receiver": "u1", "workflow_id": "wf",
              "occurred_at": dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone.utc),
              "applied": True, "flags": [], "flagged": False, "payload": {}}
    return InboundEvent(event_id=event_id, **{**values, **fields})
