"""The inbox's plain validation path (issue 9, figure 1) gives what DRF gives: for ordinary
and odd events alike, validate_batch returns the very data (same keys, same order, same
values) and the very errors that a fresh TodoEventSerializer's is_valid() returns."""
import datetime as dt
import itertools
import random

from integration.events import TodoEventSerializer, validate_batch
from tests.integration.helpers import todo_event

# Values each field may take in the mix: ordinary ones, and each way a value can be refused
# or read differently (blank, padded, too long, numbers, booleans, None, NUL, surrogates).
ODD_TEXT = ["", "   ", "  padded  ", "x" * 64, "x" * 65, "x" * 500, "x" * 501, 12, 0, 1.5,
            True, None, "nul\x00", "lone \ud800", "😀 emoji", ["list"], {"a": 1}]
VARIANTS = {
    "event_id": ["ev-1", *ODD_TEXT],
    # "TODO": the choice in capitals (DRF refuses it), not a note of unfinished work
    "data_set": ["todo", "done", "over", "delete", "TODO", "", None, 1, "nope"],
    "business_status": ["arrive", "approve", "reject", "", None, "nope", 3],
    "request_id": ["1001", *ODD_TEXT],
    "request_title": ["出差申请", *ODD_TEXT],
    "workflow_id": ["wf-1", *ODD_TEXT],
    "node_name": ["部门经理审批", *ODD_TEXT],
    "creator": ["zhangsan", *ODD_TEXT],
    "receiver": ["lisi", *ODD_TEXT],
    "identity": ["p-2", *ODD_TEXT],
    "task_id": ["t-1", *ODD_TEXT],
    "created_at": ["2026-11-20T09:00:00+08:00", "2026-11-20 09:00:00", "1763600400000",
                   1763600400000, 1763600400000.5, "1999-01-01T00:00:00Z", "3000-01-01", "",
                   "soon", None, True, [1]],
    "occurred_at": ["2026-11-20T09:30:00+08:00", " 2026-11-20T09:30:00 ", 1763602200000,
                    "-5", 10 ** 20, "", None, False],
    "viewed": [True, False, "true", "false", 1, 0, "yes", None, "maybe"],
}


def reference(item):
    serializer = TodoEventSerializer(data=item)
    if serializer.is_valid():
        return "valid", list(serializer.validated_data.items())
    return "invalid", serializer.errors


def plain(item):
    valid, errors = validate_batch(TodoEventSerializer, [item])
    if valid:
        return "valid", list(valid[0][1].items())
    return "invalid", errors[0][2]


def test_every_single_odd_value_is_judged_as_drf_judges_it():
    base = todo_event(identity="p-2", task_id="t-1")
    for name, values in VARIANTS.items():
        for value in values:
            item = {**base, name: value}
            assert plain(item) == reference(item), (name, value)
        item = {k: v for k, v in base.items() if k != name}  # the field left out
        assert plain(item) == reference(item), name


def test_random_mixes_are_judged_as_drf_judges_them():
    rng = random.Random(9)
    base = todo_event(identity="p-2", task_id="t-1")
    for _ in range(3000):
        item = dict(base)
        for name in rng.sample(sorted(VARIANTS), rng.randint(0, 4)):
            if rng.random() < 0.15:
                item.pop(name, None)
            else:
                item[name] = rng.choice(VARIANTS[name])
        assert plain(item) == reference(item), item


def test_a_batch_keeps_indexes_and_event_ids_of_refusals():
    items = [todo_event(), "not an object", todo_event(receiver=""), todo_event(data_set=None)]
    valid, errors = validate_batch(TodoEventSerializer, items)
    assert [index for index, _data in valid] == [0]
    assert [(index, event_id) for index, event_id, _e in errors] == [
        (1, None), (2, items[2]["event_id"]), (3, items[3]["event_id"])]
    assert all(isinstance(data["occurred_at"], dt.datetime) for _i, data in valid)
    assert list(itertools.chain.from_iterable(e for *_x, e in errors[1:])) == [
        "receiver", "data_set"]


def test_ordinary_events_do_not_go_through_drf(monkeypatch):
    def refuse(self, data):
        raise AssertionError("DRF validated an ordinary event")

    monkeypatch.setattr(TodoEventSerializer, "run_validation", refuse)
    items = [todo_event(), todo_event(business_status="urge", viewed=True),
             todo_event(data_set="done", business_status="approve", created_at=1763600400000)]
    valid, errors = validate_batch(TodoEventSerializer, items)
    assert len(valid) == 3 and errors == []
