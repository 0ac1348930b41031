"""The fault-injection suite's console: real processes on real services, each one ours to kill.

`console(**settings)` starts, for one scenario:
- a PostgreSQL database of its own, cloned from a template migrated once per session
  (`console_reliability_<pid>_base`, with the admin's API token), dropped afterwards;
- a TCP proxy in front of Redis (db 13): the broker URL points at the proxy, so stopping it
  makes the broker unreachable for every process at once, and starting it brings it back;
- the web server (`manage.py runserver --noreload`), a Celery worker on every queue
  (concurrency 2) and Celery beat with the database scheduler, each a separate process in its
  own process group, so the worker can be SIGKILLed alone, pool and all.

Push timings come from the environment (PUSH_* settings) and are small, so outages, retries,
probes, leases and sweeps take seconds. Teardown always stops every process group and the
proxy and drops the database, also after a failure; after a failure it prints the processes'
logs (also copied to test-artifacts/reliability/<test>/).

Needs the run's PostgreSQL server (that of DATABASE_URL: in scripts/test's PostgreSQL pass
127.0.0.1:5432, or TEST_POSTGRES_URL's), where it creates and drops databases of its own
(console_reliability_*), and Redis on 127.0.0.1:6379 (db 13, held by one run at a time);
without them the scenarios skip, or fail when REQUIRE_SERVICES=1. They are marked
`postgres_only`, so the SQLite run of scripts/test deselects them and the PostgreSQL run
executes them.
"""
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import require_service

from .proxy import TCPProxy

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "reliability"
REDIS_DB = 13
QUEUES = "default,push,batch,flows,archive"
TOKEN = secrets.token_hex(20)  # the admin's API token in every scenario's database
START_TIMEOUT = 60
STOP_TIMEOUT = 15  # seconds a process group gets to stop after SIGTERM
LOCK_KEY = "reliability-suite:lock"
LOCK_WAIT, LOCK_EXPIRY = 300, 600  # seconds
# Small push timings (seconds), so that every scenario runs in seconds. The sweeper's interval
# is written into the periodic task when the template is migrated.
SETTINGS = {
    "PUSH_SWEEP_SECONDS": "1",
    "PUSH_RETRY_BASE_SECONDS": "1",
    "PUSH_LANE_LEASE_SECONDS": "4",
    "PUSH_CONNECT_TIMEOUT": "1",
    "PUSH_READ_TIMEOUT": "2",
    "PUSH_MAX_ATTEMPTS": "20",
    "LANGUAGE_CODE": "en",
    "LOG_LEVEL": "INFO",
}
FIGURES: list[str] = []
_SCENARIOS = itertools.count(1)

ADMIN = f"""
from django.contrib.auth.models import User
from integration.models import ApiToken
user = User.objects.create_superuser("reliability", "reliability@example.com", "unused-pw-1")
ApiToken.objects.issue(user, "reliability", key="{TOKEN}")
"""

CONFIGS = """
import json
from integration.models import Person
from pushconfig.models import PushConfig
made = {}
for spec in json.loads(%r):
    persons = [Person.objects.get_or_create(login_id=p["login_id"], defaults=p)[0]
               for p in spec.pop("alert_persons", [])]
    config = PushConfig(enabled=True, push_type="ecology", **spec)
    config.full_clean()
    config.set_params({"sysCode": "REL"})
    config.save()
    config.alert_persons.set(persons)
    made[config.identifier] = config.pk
print("CONFIGS=" + json.dumps(made))
"""


def pytest_configure(config):
    # Until pyproject.toml lists it (its owner adds the line), --strict-markers needs this.
    config.addinivalue_line(
        "markers", "reliability: fault-injection scenarios on real processes, PostgreSQL and "
                   "Redis (broker through a TCP proxy); minutes, not seconds")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


# -- services ------------------------------------------------------------------------------
def pg_server():
    """The PostgreSQL server of this run (scripts/test: TEST_POSTGRES_URL, by default
    127.0.0.1:5432, user postgres): host, port, user, password."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    return {"host": db.get("HOST") or "127.0.0.1", "port": int(db.get("PORT") or 5432),
            "user": db.get("USER") or "postgres", "password": db.get("PASSWORD") or ""}


def pg_url(database):
    server = pg_server()
    login = quote(server["user"], safe="")
    if server["password"]:
        login += ":" + quote(server["password"], safe="")
    return f"postgres://{login}@{server['host']}:{server['port']}/{database}"


def pg_connect(dbname="postgres"):
    import psycopg

    server = {k: v for k, v in pg_server().items() if v != ""}
    return psycopg.connect(dbname=dbname, autocommit=True, connect_timeout=5, **server)


def pg_admin(sql):
    with pg_connect() as conn:
        conn.execute(sql)


def drop_database(name):
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_client():
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=5)


def clear_broker():
    """Empty Redis db 13 (ours) of queues and unacked tasks a previous scenario left."""
    with redis_client() as client:
        keys = [k for k in client.scan_iter(count=1000) if not k.startswith(LOCK_KEY.encode())]
        if keys:
            client.delete(*keys)


class SuiteLock:
    """Redis db 13 is the suite's broker: two runs at once (two people's scripts/test on one
    machine) would take each other's tasks and empty each other's queues. The second waits."""

    def __init__(self):
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def acquire(self, wait=LOCK_WAIT):
        deadline = time.monotonic() + wait
        with redis_client() as client:
            while not client.set(LOCK_KEY, self.token, nx=True, ex=LOCK_EXPIRY):
                if client.get(LOCK_KEY) == self.token.encode():
                    client.expire(LOCK_KEY, LOCK_EXPIRY)  # ours: renewed per scenario
                    return
                if time.monotonic() > deadline:
                    holder = client.get(LOCK_KEY)
                    pytest.fail(f"another run of the reliability suite ({holder!r}) has held "
                                f"Redis db {REDIS_DB} for over {wait}s")
                time.sleep(1)

    def release(self):
        with redis_client() as client:
            if client.get(LOCK_KEY) == self.token.encode():
                client.delete(LOCK_KEY)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def base_env(database, var_dir, broker_url, overrides=()):
    env = dict(os.environ)
    for name in ("CELERY_TASK_ALWAYS_EAGER", "DJANGO_SETTINGS_MODULE", "DEBUG"):
        env.pop(name, None)
    env.update(SETTINGS)
    env.update(
        DATABASE_URL=pg_url(database),
        CELERY_BROKER_URL=broker_url, CONSOLE_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="config.settings", SANDBOX_ENABLED="0",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
    )
    env.update({k: str(v) for k, v in dict(overrides).items()})
    return env


def run_manage(env, *args, timeout=120):
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def reliability_template(tmp_path_factory):
    """A migrated database with the admin's token, cloned for each scenario; and the suite's
    hold on Redis db 13."""
    server = pg_server()
    require_service("PostgreSQL", server["host"], server["port"])
    require_service("Redis", "127.0.0.1", 6379)
    lock = SuiteLock()
    lock.acquire()
    name = f"console_reliability_{os.getpid()}_base"
    drop_database(name)
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        env = base_env(name, tmp_path_factory.mktemp("reliability-template"), "memory://")
        run_manage(env, "migrate", "--no-input", timeout=300)
        run_manage(env, "shell", "-c", ADMIN)
        yield name, lock
    finally:
        drop_database(name)
        lock.release()


# -- the console ---------------------------------------------------------------------------
class Console:
    """One scenario's processes, database and broker proxy."""

    def __init__(self, database, var_dir, overrides):
        self.database = database
        self.var_dir = var_dir
        self.broker = TCPProxy(6379).start()
        self.broker_url = f"redis://127.0.0.1:{self.broker.port}/{REDIS_DB}"
        self.env = base_env(database, var_dir, self.broker_url, overrides)
        self.port = None
        self.processes = {}   # role -> Popen (the current one)
        self.started = []     # (name, Popen, log path), every process ever started
        self._sql = None
        self._workers = 0

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    # -- processes ---------------------------------------------------------------------
    def _spawn(self, role, name, argv):
        log_path = self.var_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(argv, env=self.env, cwd=self.var_dir,
                                       stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT,
                                       start_new_session=True)  # its own process group
        self.processes[role] = process
        self.started.append((name, process, log_path))
        return process, log_path

    def start(self):
        """Web, worker and beat, started together; back when web and worker answer."""
        waits = [self.start_web(wait=False), self.start_worker(wait=False)]
        self.start_beat()
        for wait in waits:
            wait()

    def start_web(self, wait=True):
        self.port = free_port()
        process, _log = self._spawn("web", "web", [
            sys.executable, str(ROOT / "manage.py"), "runserver", f"127.0.0.1:{self.port}",
            "--noreload"])
        return self._started("web", process, lambda: answers(self.port), wait)

    def start_worker(self, wait=True):
        self._workers += 1
        name = f"worker{self._workers}"
        process, log_path = self._spawn("worker", name, [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", QUEUES, "-c", "2",
            "-n", f"reliability{self._workers}-{os.getpid()}@%h", "--without-mingle",
            "--without-gossip", "--loglevel", "INFO"])
        return self._started(name, process, lambda: b" ready." in log_path.read_bytes(), wait)

    def start_beat(self):
        self._spawn("beat", "beat", [
            sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
            "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"])

    def _started(self, name, process, ready, wait):
        """Wait until ready() (or return the waiting, to be done later)."""
        deadline = time.monotonic() + START_TIMEOUT

        def waiting():
            while not ready():
                if process.poll() is not None:
                    pytest.fail(f"{name} exited with {process.returncode}:\n{self.log(name)}")
                if time.monotonic() > deadline:
                    pytest.fail(f"{name} did not start within {START_TIMEOUT}s:\n"
                                f"{self.log(name)}")
                time.sleep(0.1)

        return waiting() if wait else waiting

    def kill_worker(self):
        """SIGKILL the worker's whole process group (its main process and pool children),
        and wait until every one of them is gone."""
        process = self.processes.pop("worker")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(process):
            assert time.monotonic() < deadline, "the killed worker's pool outlived it"
            time.sleep(0.05)

    def stop(self):
        """Every process we started: SIGTERM to the process (a worker stops its own pool, which
        a signal to the whole group would cut off mid-query), then SIGKILL to the group of
        whatever did not stop."""
        running = [process for _n, process, _l in self.started if _alive(process)]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in running:
            while _alive(process) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(process):
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()

    def log(self, name, tail=6000):
        """The end of a process's log, without the sweeper's once-a-second lines."""
        path = self.var_dir / f"{name}.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        lines = [line for line in text.splitlines() if "sweep_outbox" not in line
                 and "Push outbox sweeper" not in line]
        return "\n".join(lines)[-tail:]

    def logs(self, tail=6000):
        """Workers and beat first: when a report keeps only the start of a failure's output,
        it keeps theirs rather than the web's (whose tail is the broker's tracebacks)."""
        names = sorted((name for name, _p, _l in self.started), key=lambda name: name == "web")
        return "\n".join(f"----- {name} (last {tail} chars) -----\n{self.log(name, tail)}"
                         for name in names)

    # -- data ------------------------------------------------------------------------------
    def manage(self, *args, timeout=120):
        return run_manage(self.env, *args, timeout=timeout)

    def create_configs(self, *specs):
        """Enabled e-cology PushConfigs from dicts of model fields (`alert_persons`: Person
        fields, created when missing); returns {identifier: id}."""
        out = self.manage("shell", "-c", CONFIGS % json.dumps(list(specs)))
        line = next(line for line in out.splitlines() if line.startswith("CONFIGS="))
        return json.loads(line.removeprefix("CONFIGS="))

    def sql(self, query, *params):
        """Read the console's database directly (fast enough to poll)."""
        if self._sql is None or self._sql.closed:
            self._sql = pg_connect(self.database)
        return self._sql.execute(query, params).fetchall()

    def outcomes(self, config_id):
        return dict(self.sql("SELECT outcome, count(*) FROM pushconfig_pushrecord "
                             "WHERE config_id = %s GROUP BY outcome", config_id))

    def unfinished(self, config_id, limit=10):
        """Records not (yet) successful, for a failure message."""
        return self.sql(
            "SELECT idempotency_key, outcome, permanent, attempts, next_attempt_at, reason "
            "FROM pushconfig_pushrecord WHERE config_id = %s AND outcome <> 'success' "
            "ORDER BY id LIMIT %s", config_id, limit)

    def progress(self, config_id):
        return f"{self.outcomes(config_id)}; not successful: {self.unfinished(config_id)}"

    def in_flight(self, config_id):
        """The keys of the records of batches in flight (or left so by a crash)."""
        return {key for (key,) in self.sql(
            "SELECT r.idempotency_key FROM pushconfig_inflightbatch f "
            "CROSS JOIN jsonb_array_elements(f.tries) t "
            "JOIN pushconfig_pushrecord r ON r.id = (t ->> 0)::bigint WHERE f.config_id = %s",
            config_id)}

    def record_keys(self, config_id):
        return {k for (k,) in self.sql("SELECT idempotency_key FROM pushconfig_pushrecord "
                                       "WHERE config_id = %s", config_id)}

    def attempts(self, config_id):
        rows = self.sql(
            "SELECT r.idempotency_key, a.number, a.outcome, a.error_class, a.duration_ms, "
            "a.started_at, a.finished_at FROM pushconfig_pushattempt a "
            "JOIN pushconfig_pushrecord r ON r.id = a.record_id WHERE r.config_id = %s "
            "ORDER BY a.id", config_id)
        names = ("key", "number", "outcome", "error_class", "duration_ms", "started_at",
                 "finished_at")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def post(self, path, body, timeout=30, give_up=False):
        """POST JSON with the admin's token: (HTTP status, answer, seconds taken). With
        give_up, no answer within `timeout` gives (None, None, seconds) instead of an error."""
        return self._call(urllib.request.Request(
            self.base_url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Token {TOKEN}"}),
            timeout, give_up)

    def get(self, path, timeout=30):
        return self._call(urllib.request.Request(
            self.base_url + path, headers={"Authorization": f"Token {TOKEN}"}), timeout, False)

    def _call(self, request, timeout, give_up):
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (TimeoutError, urllib.error.URLError) as error:
            timed_out = isinstance(error, TimeoutError) or isinstance(
                getattr(error, "reason", None), TimeoutError)
            if not (give_up and timed_out):
                raise
            return None, None, time.monotonic() - started
        return status, json.loads(raw or b"null"), time.monotonic() - started

    def close(self):
        self.stop()
        self.broker.stop()
        if self._sql is not None:
            self._sql.close()


def _alive(process):
    """Whether anything of the process's group still runs (the leader reaped first: a zombie
    leader would keep its group "alive")."""
    process.poll()
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if process.returncode is None:
        return True
    # The leader is gone; its group lives on only if a child (a worker's pool) survived.
    return _group_members(process.pid) > 0


def _group_members(pgid):
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                count += 1
    return count


def _signal_group(pgid, signum):
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


@pytest.fixture
def console(request, reliability_template, tmp_path):
    """console(**settings) → a started Console (web, worker, beat) with those PUSH_* values
    on top of SETTINGS. Everything stops and the database is dropped at teardown."""
    made = []
    template, lock = reliability_template

    def start(**overrides):
        assert not made, "one console per scenario"
        lock.acquire()  # renews it
        database = f"console_reliability_{os.getpid()}_{next(_SCENARIOS)}"
        drop_database(database)
        pg_admin(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        var_dir = tmp_path / "var"
        var_dir.mkdir()
        try:
            clear_broker()
            console = Console(database, var_dir, overrides)
        except BaseException:
            drop_database(database)
            raise
        made.append(console)
        console.start()
        return console

    yield start
    for console in made:
        try:
            console.close()
        finally:
            drop_database(console.database)
            clear_broker()
        failed = any(getattr(request.node, f"rep_{when}", None) is not None
                     and getattr(request.node, f"rep_{when}").failed
                     for when in ("setup", "call"))
        if failed:
            target = ARTIFACTS / request.node.name
            target.mkdir(parents=True, exist_ok=True)
            for name, _process, log_path in console.started:
                if log_path.exists():
                    shutil.copyfile(log_path, target / log_path.name)
            print(f"\n===== logs of {request.node.name} (also in {target}) =====\n"
                  + console.logs())


# -- helpers for the scenarios -------------------------------------------------------------
def wait_until(predicate, timeout, what, snapshot=None, interval=0.2):
    """Poll until predicate() is true; fail after `timeout` seconds naming what we waited
    for and, when given, what snapshot() says at that moment. Returns the seconds waited."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() > deadline:
            detail = f"; now: {snapshot()}" if snapshot else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(interval)


def todo_and_done_events(tag, keys):
    """For each key (request, receiver): a todo, then its done a minute later. Listed done
    first, so the console must order them by time, not by position."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    events = []
    for n in range(keys):
        for minutes, data_set, status in ((1, "done", "approve"), (0, "todo", "arrive")):
            events.append({
                "event_id": f"{tag}-{n}-{data_set}", "data_set": data_set,
                "business_status": status, "request_id": f"{tag}-{n}",
                "request_title": f"可靠性 {tag} {n}", "workflow_id": "wf-rel",
                "node_name": "审批", "creator": "zhangwei", "receiver": f"{tag}user{n}",
                "occurred_at": (base + timedelta(seconds=n, minutes=minutes)).isoformat()})
    return events


def report(label, figures, **extra):
    """Print a scenario's figures (and keep them for the terminal summary)."""
    shown = {k: figures[k] for k in ("accepted", "delivered", "duplicates", "lost")}
    more = {k: v for k, v in figures.items() if k not in shown and k != "unexpected"}
    more.update(extra)
    line = (f"[reliability] {label}: " + " ".join(f"{k}={v}" for k, v in shown.items())
            + "  (" + ", ".join(f"{k}={v}" for k, v in more.items()) + ")")
    print(line)
    FIGURES.append(line)
    return line
