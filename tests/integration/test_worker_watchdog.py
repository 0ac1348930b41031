"""The worker's consumer watchdog (integration/watchdog.py): its rule, and a real worker whose
broker connection goes silent taking its tasks again."""
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery import Celery

from integration.watchdog import ConsumerWatchdog, Deaf, backlog
from tests.conftest import require_service
from tests.reliability.proxy import TCPProxy

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 14


# -- the rule, on stand-ins for the consumer's parts --------------------------------------
class Queue:
    def __init__(self, name):
        self.name = name


class Channel:
    def __init__(self, sizes, room=True):
        self.sizes, self.room = sizes, room
        self.qos = self

    def can_consume(self):
        return self.room

    def queue_declare(self, queue, passive):
        from kombu.exceptions import ChannelError

        if queue not in self.sizes:
            raise ChannelError(f"NOT_FOUND - no queue {queue!r}")
        return type("DeclareOk", (), {"message_count": self.sizes[queue]})


class Connection:
    def __init__(self, channel):
        self.default_channel = channel

    def clone(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Consumer:
    def __init__(self, channel):
        self.connection = Connection(channel)
        self.task_consumer = type("TaskConsumer", (), {
            "channel": channel, "queues": [Queue("push"), Queue("batch")]})


def watchdog_for(channel):
    return ConsumerWatchdog(parent=None), Consumer(channel)


def test_backlog_counts_the_consumed_queues_and_takes_a_missing_one_for_empty():
    assert backlog(Channel({"push": 3, "batch": 2}), ["push", "batch"]) == 5
    assert backlog(Channel({"push": 3}), ["push", "batch"]) == 3


def test_messages_waiting_at_two_checks_with_room_and_nothing_received_restart_it():
    step, consumer = watchdog_for(Channel({"push": 4, "batch": 0}))
    step.check(consumer)  # the first sighting only remembers
    with pytest.raises(Deaf):
        step.check(consumer)


def test_a_message_received_between_the_checks_means_it_hears():
    step, consumer = watchdog_for(Channel({"push": 4, "batch": 0}))
    step.check(consumer)
    step.on_received(request=None)
    step.check(consumer)  # no restart
    with pytest.raises(Deaf):  # but a further check with nothing received is deaf
        step.check(consumer)


def test_a_worker_without_room_is_busy_not_deaf():
    channel = Channel({"push": 4, "batch": 0}, room=False)
    step, consumer = watchdog_for(channel)
    step.check(consumer)
    step.check(consumer)
    channel.room = True  # room again: this check is the first to see it stalled
    step.check(consumer)
    with pytest.raises(Deaf):
        step.check(consumer)


def test_empty_queues_never_restart_it():
    step, consumer = watchdog_for(Channel({"push": 0}))
    for _ in range(3):
        step.check(consumer)


# -- a real worker behind a proxy of the broker ---------------------------------------------
class Worker:
    """A worker on a queue of its own, its broker reached through a TCP proxy."""

    def __init__(self, tmp_path, **env):
        require_service("Redis", "127.0.0.1", 6379)
        self.queue = f"watchdog-{uuid.uuid4().hex}"
        self.producer = Celery(broker=f"redis://127.0.0.1:6379/{REDIS_DB}")
        self.proxy = TCPProxy(6379).start()
        self.log_path = tmp_path / "worker.log"
        env = dict(os.environ, CELERY_BROKER_URL=f"redis://127.0.0.1:{self.proxy.port}/{REDIS_DB}",
                   CONSOLE_VAR_DIR=str(tmp_path), PYTHONUNBUFFERED="1",
                   DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **env)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queue,
                 "-c", "1", "-n", f"watchdog-{os.getpid()}@%h",
                 "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_for(lambda: " ready." in self.log(), 60, "the worker to start")

    def log(self):
        return self.log_path.read_text(errors="replace")

    def send(self, name, *args):
        self.producer.send_task(name, args=args, queue=self.queue)

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.process.poll() is not None:
                pytest.fail(f"the worker exited ({self.process.returncode}) while waiting for "
                            f"{what}:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {what}:\n"
                            f"{self.log()[-4000:]}")
            time.sleep(0.1)

    def close(self):
        try:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=10)
        finally:
            self.proxy.close()
            # The queue and kombu's bindings of it (the routing tables it keeps per queue).
            with redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB) as client:
                keys = list(client.scan_iter(match=f"*{self.queue}*", count=1000))
                if keys:
                    client.delete(*keys)


@pytest.fixture
def worker(tmp_path):
    made = []

    def start(**kwargs):
        made.append(Worker(tmp_path, **kwargs))
        return made[-1]

    yield start
    for each in made:
        each.close()


def succeeded(worker, count):
    return lambda: worker.log().count("succeeded") >= count


def test_a_worker_whose_broker_connection_goes_silent_takes_its_tasks_again(worker):
    """The worker's connections through the proxy go silent without closing (as when a
    firewall forgets them): the worker would wait forever for its BRPOP's answer. The watchdog
    sees the message waiting, restarts the consumer on a fresh connection, and the task runs."""
    worker = worker(WORKER_WATCHDOG_SECONDS="1")
    worker.send("celery.accumulate", 1)
    worker.wait_for(succeeded(worker, 1), 20, "the first task")

    worker.proxy.mute()
    # Sent once the worker's BRPOP, whose answer will never reach it, has timed out at the
    # server (1 s): the message waits in the queue, the worker waits for an answer. (A message
    # popped by that BRPOP would be gone with the answer — the reason a push lives in the
    # database until its target answered.)
    time.sleep(2.5)
    worker.send("celery.accumulate", 2)
    worker.wait_for(succeeded(worker, 2), 60, "the task sent after the silence")
    assert "worker consumer deaf: 1 message(s) waiting" in worker.log()

