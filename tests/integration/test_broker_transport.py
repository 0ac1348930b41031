"""The repaired Redis transport (integration/broker.py), on a real Redis."""
import uuid

import pytest
import redis
from kombu import Connection, Exchange, Producer, Queue
from kombu.transport import redis as kombu_redis

from integration import broker
from tests.conftest import require_service

REDIS_DB = 14


def held_message(transport):
    """A channel holding one unacknowledged message, its connection then detached from the
    transport — the state Celery's collect() leaves a channel in when its close stopped half
    way on a lost connection."""
    queue = f"transport-{uuid.uuid4().hex}"
    connection = Connection(hostname="127.0.0.1", port=6379, virtual_host=str(REDIS_DB),
                            transport=transport)
    channel = connection.default_channel
    exchange = Exchange(queue, type="direct")
    Queue(queue, exchange, routing_key=queue)(channel).declare()
    Producer(channel).publish({"n": 1}, exchange=exchange, routing_key=queue)
    assert channel.basic_get(queue, no_ack=False) is not None
    connection._do_close_transport()
    return connection, queue


@pytest.fixture
def client():
    require_service("Redis", "127.0.0.1", 6379)
    with redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB) as client:
        yield client


def forget(client, queue):
    """The queue, kombu's bindings of it, and an unacknowledged entry left for it."""
    keys = list(client.scan_iter(match=f"*{queue}*", count=1000))
    if keys:
        client.delete(*keys)
    tags = [tag for tag, entry in client.hgetall("unacked").items() if queue.encode() in entry]
    if tags:
        client.hdel("unacked", *tags)
        client.zrem("unacked_index", *tags)


def test_kombus_own_transport_fails_there(client):
    """What the repair is for: Celery takes this AttributeError as unrecoverable."""
    connection, queue = held_message(kombu_redis.Transport)
    try:
        with pytest.raises(AttributeError, match="hostname"):
            connection.close()
    finally:
        forget(client, queue)


def test_the_repaired_channel_hands_its_message_back_when_closed_after_that(client):
    connection, queue = held_message(broker.Transport)
    try:
        connection.close()
        assert client.llen(queue) == 1
    finally:
        forget(client, queue)


def test_redis_broker_urls_take_the_repaired_transport():
    from config.celery import app

    with app.connection_for_write("redis://127.0.0.1:6379/14") as connection:
        assert isinstance(connection.transport, broker.Transport)
