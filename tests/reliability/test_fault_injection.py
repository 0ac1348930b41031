"""Fault injection on the real thing: events in over REST, pushes out through a real Celery
worker (and beat's sweeper) to e-cology receivers on 127.0.0.1, while the target goes down,
the worker is SIGKILLed, the broker disappears, the target hangs, cuts its answers short or
answers more slowly than a lane lease lasts.

Each scenario prints its figures — accepted (records the console accepted for the target),
delivered (distinct idempotency keys the target answered success), duplicates (success answers
for a key already answered), lost (accepted − delivered) — and asserts lost == 0.
"""
import time

import pytest

from tests.smtp_sink import SmtpSink

from .conftest import report, todo_and_done_events, wait_until
from .targets import Target

pytestmark = [pytest.mark.reliability, pytest.mark.postgres_only]
API_PATIENCE = 10  # seconds an inbox call may take before the scenario stops waiting for it


@pytest.fixture
def targets():
    made = []

    def make(*args, **kwargs):
        made.append(Target(*args, **kwargs))
        return made[-1]

    yield make
    for target in made:
        target.close()


def accept(console, events):
    """Post the events in one call; all of them must be accepted."""
    status, body, seconds = console.post("/api/v1/todo-events/", events)
    assert status == 200 and body["accepted"] == len(events), body
    return seconds


def all_success(console, config_id, count):
    return lambda: console.outcomes(config_id).get("success", 0) == count


@pytest.fixture
def sink():
    """An SMTP server on 127.0.0.1 for the alert mails."""
    server = SmtpSink()
    yield server
    server.close()


def test_target_down_for_a_while_then_up(console, targets, sink):
    """The target fails (503, 500, its own busy answer), the breaker opens, a probe meets a
    closed port, the target comes back: every event delivered once per key, in order; one fuse
    record with both times; one email alert when it opened and one when it recovered."""
    target = targets("rotate")
    console = console(EMAIL_HOST=sink.host, EMAIL_PORT=sink.port)
    config = console.create_configs({
        "identifier": "rel-down", "system_name": "Reliability down", "server_url": target.url,
        "fuse_threshold": 3, "fuse_cooldown": 5, "alert_channels": ["email"],
        "alert_persons": [{"external_id": "p-ops", "name": "运维值班", "login_id": "ops",
                           "email": "ops@example.com"}]})["rel-down"]
    events = todo_and_done_events("down", 40)
    accept(console, events)
    keys = console.record_keys(config)
    assert len(keys) == len(events)

    def fuses():
        return console.sql("SELECT create_time, recover_time, probes, backlog "
                           "FROM pushconfig_fuserecord WHERE config_id = %s", config)

    opened = wait_until(lambda: fuses(), 30, "the breaker to open",
                        lambda: console.progress(config))
    # Batches already on the wire finish first: closing the port in the middle of an answer
    # is a fault of its own (test_answer_cut_mid_way).
    wait_until(lambda: not console.in_flight(config), 10, "the batches in flight to end")
    target.switch("refuse")
    probed = wait_until(lambda: fuses()[0][2] >= 1, 20, "a probe to fail on the closed port",
                        fuses)
    target.switch("up")
    recovered = wait_until(all_success(console, config, len(events)), 60,
                           "every record to succeed", lambda: console.progress(config))
    wait_until(lambda: len(sink.mails) >= 2, 20, "the alerts of the outage",
               lambda: [m.subject for m in sink.mails])
    time.sleep(1)  # a third alert would show now

    figures = target.figures(keys)
    fuse_rows = fuses()
    alerts = console.sql("SELECT a.event, a.channel, a.outcome FROM pushconfig_alertlog a "
                         "JOIN pushconfig_fuserecord f ON f.id = a.fuse_id "
                         "WHERE f.config_id = %s ORDER BY a.id", config)
    report("target down, then up", figures, fuse_records=len(fuse_rows),
           failed_probes=fuse_rows[0][2], backlog_when_fused=fuse_rows[0][3],
           alert_mails=[m.subject for m in sink.mails], fused_after=f"{opened:.1f}s",
           probe_failed_after=f"{probed:.1f}s", recovered_in=f"{recovered:.1f}s")
    assert figures["lost"] == 0 and not figures["unexpected"]
    assert figures["duplicates"] == 0, target.duplicated_keys()
    assert target.order_violations() == {}
    assert len(fuse_rows) == 1
    create_time, recover_time, _probes, _backlog = fuse_rows[0]
    assert create_time and recover_time and recover_time > create_time
    assert console.sql("SELECT state FROM pushconfig_breaker WHERE config_id = %s",
                       config) == [("closed",)]
    # One alert when the fuse opened, one when it recovered, to the config's person.
    assert alerts == [("open", "email", "sent"), ("recover", "email", "sent")]
    assert len(sink.mails) == 2
    opened_mail, recovered_mail = sorted(sink.mails, key=lambda m: "recovered" in m.subject)
    assert "Reliability down" in opened_mail.subject and "fused" in opened_mail.subject
    assert "recovered" in recovered_mail.subject
    assert all(m.rcpt_tos == ["ops@example.com"] for m in sink.mails)


def success_attempts_per_key(console, config_id):
    """{idempotency key: number of successful attempts} from the push log."""
    return dict(console.sql(
        "SELECT r.idempotency_key, count(a.id) FILTER (WHERE a.outcome = 'success') "
        "FROM pushconfig_pushrecord r LEFT JOIN pushconfig_pushattempt a ON a.record_id = r.id "
        "WHERE r.config_id = %s GROUP BY r.idempotency_key", config_id))


def test_worker_killed_in_the_middle_of_a_batch(console, targets):
    """SIGKILL the worker (pool and all) while batches are on the wire, start another: the
    sweeper closes the interrupted batches and re-sends their records; everything is
    delivered, a duplicate only for what was in flight (at least once)."""
    # 0.3 s an answer: a lane's batch (5 keys at most here) stays within the 3 s lease while
    # its worker lives (a batch outlasting its lease is another test's subject).
    target = targets("up", delay=0.3)
    console = console(PUSH_LANE_LEASE_SECONDS=3)
    config = console.create_configs({"identifier": "rel-kill", "system_name": "Reliability kill",
                                     "server_url": target.url})["rel-kill"]
    events = todo_and_done_events("kill", 24)
    accept(console, events)
    keys = console.record_keys(config)

    wait_until(lambda: len(target.successes()) >= 8, 30, "some pushes to arrive",
               lambda: console.progress(config))
    console.kill_worker()

    in_flight = console.in_flight(config)
    arrived_before_restart = len(target.successes())
    console.start_worker()
    delivered = all_success(console, config, len(events))
    # A worker that re-takes a record before the sweeper has run sends it at once; the
    # batch the kill left in flight is closed by the sweeper once its lanes are free (see
    # delivery.close_interrupted): wait for both.
    recovered = wait_until(lambda: delivered() and not console.in_flight(config), 60,
                           "every record to succeed and every interrupted batch to be closed",
                           lambda: console.progress(config))

    figures = target.figures(keys)
    attempts = console.attempts(config)
    interrupted = {a["key"] for a in attempts if a["error_class"] == "Interrupted"}
    report("worker SIGKILLed mid-batch", figures, in_flight_at_kill=len(in_flight),
           interrupted_attempts=len(interrupted), duplicated=target.duplicated_keys(),
           arrived_before_restart=arrived_before_restart, recovered_in=f"{recovered:.1f}s")
    assert figures["lost"] == 0 and not figures["unexpected"]
    assert in_flight, "the kill came between batches: nothing was interrupted"
    # At least once: only what was on the wire when the worker died may arrive twice.
    assert set(target.duplicated_keys()) <= in_flight
    assert interrupted == in_flight  # each closed by the sweeper, then sent again
    assert all(a["finished_at"] is not None for a in attempts)
    assert set(success_attempts_per_key(console, config).values()) == {1}
    assert target.order_violations() == {}


def test_broker_unreachable_when_events_arrive(console, targets):
    """With the broker gone, the inbox still accepts and stores every event, answering at
    once; nothing leaves; once the broker is back the sweeper hands the lanes to the worker."""
    target = targets("up")
    console = console()
    config = console.create_configs({"identifier": "rel-broker",
                                     "system_name": "Reliability broker",
                                     "server_url": target.url})["rel-broker"]
    events = todo_and_done_events("broker", 41)
    single = events.pop()  # key 40's todo, alone: the single-event call answers 201
    events.pop()           # (its done is not sent)
    console.broker.stop()
    status, health, health_seconds = console.get("/api/v1/health/")
    assert status == 503 and health["broker"] == "unavailable", health

    # An answer later than API_PATIENCE is a failure (asserted at the end); the scenario goes
    # on, since the events were stored before the console began waiting for the broker.
    status, body, bulk_seconds = console.post("/api/v1/todo-events/", events,
                                              timeout=API_PATIENCE, give_up=True)
    assert status in (200, None) and (body is None or body["accepted"] == len(events)), body
    status, body, single_seconds = console.post("/api/v1/todo-events/", single,
                                                timeout=API_PATIENCE, give_up=True)
    assert status in (201, None) and (body is None or body["accepted"] == 1), body
    accepted = len(events) + 1
    wait_until(lambda: console.outcomes(config) == {"pending": accepted}, 10,
               "every event to be stored with its push record pending",
               lambda: console.outcomes(config))
    keys = console.record_keys(config)
    time.sleep(2)  # beat cannot reach the worker either: nothing may leave
    assert target.entries() == []

    console.broker.start()
    delivered = wait_until(all_success(console, config, accepted), 60,
                           "every record to succeed once the broker is back",
                           lambda: console.progress(config))
    figures = target.figures(keys)
    calls = [round(s, 2) if s < API_PATIENCE else f"no answer in {API_PATIENCE}s"
             for s in (bulk_seconds, single_seconds)]
    report("broker unreachable when events arrive", figures, api_call_seconds=calls,
           health_check_seconds=round(health_seconds, 2),
           delivered_after_broker_back=f"{delivered:.1f}s")
    assert figures["lost"] == 0 and not figures["unexpected"]
    assert figures["duplicates"] == 0, target.duplicated_keys()
    assert target.order_violations() == {}
    assert health_seconds < 10.0
    # The inbox must not wait for the broker (the sweeper enqueues what could not be).
    assert bulk_seconds < 3.0 and single_seconds < 3.0, f"API calls took {calls}"


def test_slow_target_does_not_hold_up_the_others(console, targets):
    """Target A hangs (longer than PUSH_READ_TIMEOUT), target B answers: A's calls time out
    within the read timeout; no worker spends more than a breaker's run of failures
    (fuse_threshold calls) on A, so B's pushes all arrive while A hangs; once A answers again,
    all of A arrives too."""
    read_timeout, threshold, workers = 2, 3, 2
    hanging = targets("hang", hang=30)
    fine = targets("up")
    # The lane lease in the defaults' proportion to the read timeout (120 s to 15 s): a lease
    # running out under a long batch is test_answers_slower_than_the_lane_lease's subject.
    console = console(PUSH_READ_TIMEOUT=read_timeout, PUSH_LANE_LEASE_SECONDS=8 * read_timeout)
    ids = console.create_configs(
        {"identifier": "rel-slow-a", "system_name": "Reliability slow A",
         "server_url": hanging.url, "fuse_threshold": threshold, "fuse_cooldown": 5},
        {"identifier": "rel-slow-b", "system_name": "Reliability slow B",
         "server_url": fine.url})
    a, b = ids["rel-slow-a"], ids["rel-slow-b"]
    events = todo_and_done_events("slow", 32)  # A's first lanes hold 4 and 5 keys
    accept(console, events)
    keys_a, keys_b = console.record_keys(a), console.record_keys(b)

    b_delivered = wait_until(all_success(console, b, len(events)), 45,
                             "B's records to succeed while A hangs",
                             lambda: f"B {console.progress(b)}; A {console.progress(a)}")
    assert hanging.mode == "hang" and not hanging.successes()
    timed_out = [x for x in console.attempts(a) if x["finished_at"] and x["outcome"] == "failed"]
    reasons = {r for (r,) in console.sql(
        "SELECT DISTINCT reason FROM pushconfig_pushrecord WHERE config_id = %s "
        "AND outcome = 'failed'", a)}
    hung = len(hanging.entries())
    probes = sum(p for (p,) in console.sql(
        "SELECT probes FROM pushconfig_fuserecord WHERE config_id = %s", a))
    hanging.switch("up")
    a_delivered = wait_until(all_success(console, a, len(events)), 60,
                             "A's records to succeed once it answers",
                             lambda: console.progress(a))

    figures_a, figures_b = hanging.figures(keys_a), fine.figures(keys_b)
    durations = sorted(x["duration_ms"] for x in timed_out if x["duration_ms"] is not None)
    # Each worker may try A `threshold` times before it stops (the breaker's run of failures);
    # then only probes: each failed one, and one on the wire.
    allowed = threshold * workers + probes + 1
    report("slow target A (hangs)", figures_a, timed_out_attempts=len(timed_out),
           calls_while_hanging=hung, allowed_by_breaker=allowed,
           longest_ms=durations[-1] if durations else None,
           delivered_after_recovery=f"{a_delivered:.1f}s")
    report("healthy target B (beside A)", figures_b,
           delivered_while_a_hangs=f"{b_delivered:.1f}s")
    assert figures_b["lost"] == 0 and figures_b["duplicates"] == 0
    assert figures_a["lost"] == 0 and not figures_a["unexpected"]
    assert timed_out and durations, "no attempt of A timed out"
    assert all(x["error_class"] == "TransportError" for x in timed_out), timed_out
    assert any("Timed out" in reason for reason in reasons), reasons
    assert durations[-1] <= read_timeout * 1000 + 1500, durations
    assert not console.in_flight(a) and not console.in_flight(b)
    assert hanging.order_violations() == {} and fine.order_violations() == {}
    assert set(success_attempts_per_key(console, a).values()) == {1}
    # No worker stuck on A: a batch must not go on calling a hanging target after a run of
    # fuse_threshold failures (each call holds a worker for the whole read timeout).
    assert hung <= allowed, (
        f"A was called {hung} times while hanging, {allowed} at most were needed: batches "
        f"went on after {threshold} failures in a row; each call held a worker {read_timeout}s")


def test_answer_cut_mid_way(console, targets):
    """The target's answer breaks off in the middle (headers sent, half the body, then the
    connection closes: a target restarting, a proxy dropping the line). Nobody knows whether
    the target took the push, so it must be retried like any other transient failure; once
    the target answers whole again, everything is delivered."""
    target = targets("cut")
    console = console()
    config = console.create_configs({"identifier": "rel-cut", "system_name": "Reliability cut",
                                     "server_url": target.url, "fuse_threshold": 50})["rel-cut"]
    events = todo_and_done_events("cut", 5)
    accept(console, events)
    keys = console.record_keys(config)
    wait_until(lambda: len({e.key for e in target.entries()}) >= 5, 20,
               "every todo to meet a cut answer", lambda: console.progress(config))
    wait_until(lambda: not console.in_flight(config), 10, "the calls in flight to end")
    target.switch("up")

    def settled():  # nothing pending, nothing waiting for a retry
        return not console.sql(
            "SELECT id FROM pushconfig_pushrecord WHERE config_id = %s AND (outcome = 'pending'"
            " OR (outcome = 'failed' AND next_attempt_at IS NOT NULL))", config)

    wait_until(settled, 60, "every record to be answered or given up",
               lambda: console.progress(config))
    figures = target.figures(keys)
    given_up = console.unfinished(config, limit=100)
    report("answer cut mid-way, then whole", figures, given_up=len(given_up),
           as_permanent=sum(1 for row in given_up if row[2]),
           reason=given_up[0][5][:80] if given_up else "")
    assert figures["lost"] == 0, f"never retried: {given_up[:3]}"
    assert figures["duplicates"] == 0 and target.order_violations() == {}


def test_answers_slower_than_the_lane_lease(console, targets):
    """A target that answers, but slowly: a lane's batch takes longer than the lane lease
    (PUSH_LANE_LEASE_SECONDS), as with the defaults (120 s) once a lane holds a backlog of 80
    records and the target needs 1.5 s each — after an outage, say. Nobody died, so nothing may
    be sent twice and each key must still arrive in order. One lane, so the batch is long."""
    target = targets("up", delay=0.6)
    console = console(PUSH_LANES=1, PUSH_LANE_LEASE_SECONDS=2)
    config = console.create_configs({"identifier": "rel-lease", "system_name": "Reliability lease",
                                     "server_url": target.url})["rel-lease"]
    events = todo_and_done_events("lease", 6)  # 6 todos in one batch: 3.6 s > 2 s lease
    accept(console, events)
    keys = console.record_keys(config)
    delivered = wait_until(all_success(console, config, len(events)), 60,
                           "every record to succeed", lambda: console.progress(config))
    time.sleep(1)  # a second worker still sending would show now
    figures = target.figures(keys)
    attempts = console.attempts(config)
    interrupted = sum(a["error_class"] == "Interrupted" for a in attempts)
    report("answers slower than the lane lease", figures, duplicated=target.duplicated_keys(),
           interrupted_attempts=interrupted, out_of_order=len(target.order_violations()),
           delivered_in=f"{delivered:.1f}s")
    assert figures["lost"] == 0 and not figures["unexpected"]
    assert figures["duplicates"] == 0, target.duplicated_keys()
    assert target.order_violations() == {}
    assert interrupted == 0, "attempts still running were closed as Interrupted"
    assert set(success_attempts_per_key(console, config).values()) == {1}
