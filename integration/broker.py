"""kombu's Redis transport with one repair: a channel closed after its connection let go of the
transport can still hand back its unacknowledged messages.

When a worker loses the broker, Celery (5.7) first collects the connection — which detaches the
transport from it — and then closes it. A channel that the collect could not close (its close
stopped half way on the lost connection) is closed the second time with the transport detached;
handing back its unacknowledged messages needs a connection pool, kombu builds one from the
transport's connection details, finds none, and fails on an AttributeError that Celery takes as
unrecoverable: the worker exits. It takes a broker outage while a task runs (acknowledged late) —
an ordinary moment; the reliability suite's broker outage met it. Here the channel keeps the
details it was opened with, so the hand-back is tried like any other command: the broker answers
(the messages are back in their queues) or a connection error is raised, which Celery ignores
while it closes (the messages stay in Redis's unacknowledged set, restored after the visibility
timeout).
"""
from kombu.transport import TRANSPORT_ALIASES, redis


class Channel(redis.Channel):
    def __init__(self, connection, *args, **kwargs):
        self._opened_with = connection.client
        super().__init__(connection, *args, **kwargs)

    def _connparams(self, asynchronous=False):
        transport = self.connection
        if transport.client is not None:
            return super()._connparams(asynchronous=asynchronous)
        transport.client = self._opened_with  # for the duration of the call only
        try:
            return super()._connparams(asynchronous=asynchronous)
        finally:
            transport.client = None


class Transport(redis.Transport):
    Channel = Channel


def use_repaired_redis_transport():
    """`redis://` and `rediss://` broker URLs take this transport in every process."""
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
