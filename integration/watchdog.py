"""The worker's consumer watchdog: a worker that is alive but deaf restarts its consumer.

Celery workers on Redis have, release after release, been found running but no longer taking
tasks after the broker went away and came back (celery#8030, #8384, #10205; kombu#2629): the
event loop turns and the worker answers pings, but the socket its BRPOP waits on is no longer
polled. A broker connection that goes silent without closing (a firewall or NAT dropping it)
leaves a worker just as deaf. Nothing is lost — accepted work is in the database — but it would
wait until someone restarted the worker.

Every WORKER_WATCHDOG_SECONDS the watchdog counts the messages waiting in the queues this worker
consumes. When messages waited at two checks in a row, the worker had room for more at both, and
it received nothing in between, it restarts the consumer the way Celery does after a lost
connection: a fresh connection, fresh registrations, the unacknowledged tasks back in their
queues. A healthy worker with room takes a waiting message within milliseconds, so the rule does
not fire on a busy one.
"""
import logging

from celery import bootsteps
from kombu.exceptions import ChannelError

log = logging.getLogger(__name__)


class Deaf(ConnectionError):
    """Raised in the worker's event loop: Celery's consumer treats it as a lost connection."""


class ConsumerWatchdog(bootsteps.StartStopStep):
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timer = None
        self.received = 0
        self.seen = None  # (received, backlog and room) at the last check

    def start(self, consumer):
        from django.conf import settings

        every = settings.WORKER_WATCHDOG_SECONDS
        transport = consumer.connection.transport
        # Only the Redis transport is known to go deaf, and there the backlog is cheap to
        # count; the development default (the filesystem broker) has no connection to lose.
        if not every or transport.driver_type != "redis" or consumer.hub is None:
            return
        self.seen = None
        consumer.on_task_message.add(self.on_received)
        # Timers run inside the event loop, which passes connection errors on to the consumer.
        self.timer = consumer.timer.call_repeatedly(every, self.check, (consumer,))

    def stop(self, consumer):
        consumer.on_task_message.discard(self.on_received)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    shutdown = stop

    def on_received(self, request):
        self.received += 1

    def check(self, consumer):
        queues = [queue.name for queue in consumer.task_consumer.queues]
        # Counted over a connection of its own: the consumer's may be the one gone silent.
        with consumer.connection.clone() as connection:
            waiting = backlog(connection.default_channel, queues)
        stalled = bool(waiting) and consumer.task_consumer.channel.qos.can_consume()
        deaf = stalled and self.seen == (self.received, True)
        self.seen = (self.received, stalled)
        if deaf:
            log.error("worker consumer deaf: %d message(s) waiting, room for more, nothing "
                      "received since the last check; restarting the consumer", waiting)
            raise Deaf("consumer watchdog: messages waiting, none received")


def backlog(channel, queues):
    """Messages waiting in the queues (Redis keeps no key for an empty one: kombu calls it
    missing)."""
    total = 0
    for name in queues:
        try:
            total += channel.queue_declare(queue=name, passive=True).message_count
        except ChannelError:
            pass
    return total


def install_watchdog(app):
    app.steps["consumer"].add(ConsumerWatchdog)
