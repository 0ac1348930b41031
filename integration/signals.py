"""Signals sent inside the inbox transaction, after the state was updated.

Receivers run in the same transaction, so whatever they write (push records, flow runs)
is committed together with the event, or not at all: the outbox pattern of DESIGN.md.
Receivers must not do network I/O here; they write rows and enqueue with on_commit.
"""
from django.dispatch import Signal

# kwargs: events (list of saved InboundEvent), todo_items (dict event_id -> TodoItem)
todo_events_accepted = Signal()
# kwargs: events (list of saved InboundEvent), requests (dict request_id -> Request)
workflow_events_accepted = Signal()
# Sent by the REST door after the events are committed, outside any transaction, with
# kwargs event_ids (accepted and duplicate events of the call). Receivers return
# {event_id: {extra fields}} merged into that event's result in the answer: how "before"
# action flows tell the OA whether the node may go on.
workflow_events_answering = Signal()
