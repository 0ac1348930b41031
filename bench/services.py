"""The benchmark's services and processes: its own PostgreSQL database, Redis db 12, the web
server (gunicorn, 2 sync workers; runserver when gunicorn is missing) and Celery workers, each
child in its own process group and told to stop if the harness dies (PR_SET_PDEATHSIG)."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
# One database per run (the outer process's pid), so two runs never drop each other's.
DATABASE = os.environ.get("BENCH_DATABASE") or f"console_bench_{os.getpid()}"
REDIS_DB = 12
BROKER_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
QUEUES = "push,batch,default"
START_TIMEOUT = 90


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port, process, name, log_path):
    deadline = time.monotonic() + START_TIMEOUT
    while not answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = Path(log_path).read_text(errors="replace")[-3000:] if Path(log_path).exists() else ""
            raise RuntimeError(f"{name} did not start (exit {process.poll()}):\n{tail}")
        time.sleep(0.05)


# -- PostgreSQL and Redis ------------------------------------------------------------------
def pg(sql, dbname="postgres"):
    import psycopg

    with psycopg.connect(dbname=dbname, autocommit=True, connect_timeout=5, **PG) as conn:
        conn.execute(sql)


def create_database(name=DATABASE):
    drop_database(name)
    pg(f'CREATE DATABASE "{name}"')


def drop_database(name=DATABASE):
    pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_url(name=DATABASE):
    return f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


LOCK_KEY = "bench:lock"
LOCK_WAIT, LOCK_EXPIRY = 900, 1800  # seconds; the holder renews it every scenario


def _redis():
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=5)


def flush_broker():
    """Empty Redis db 12 (the benchmark's own; never another db) but for the run's lock."""
    with _redis() as client:
        keys = [k for k in client.scan_iter(count=1000) if k != LOCK_KEY.encode()]
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start:start + 1000])


class RunLock:
    """Redis db 12 is every run's broker: a second run at once (another session's smoke test)
    would flush the first one's queues. The second waits, then gives up naming the holder."""

    def __init__(self, token):
        self.token = token

    def acquire(self, wait=LOCK_WAIT):
        deadline = time.monotonic() + wait
        with _redis() as client:
            while not client.set(LOCK_KEY, self.token, nx=True, ex=LOCK_EXPIRY):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"another benchmark run ({client.get(LOCK_KEY)!r}) has "
                                       f"held Redis db {REDIS_DB} for over {wait} s")
                time.sleep(1)

    def renew(self):
        with _redis() as client:
            if client.get(LOCK_KEY) == self.token.encode():
                client.expire(LOCK_KEY, LOCK_EXPIRY)

    def release(self):
        with _redis() as client:
            if client.get(LOCK_KEY) == self.token.encode():
                client.delete(LOCK_KEY)


def versions():
    import psycopg
    import redis

    with psycopg.connect(dbname="postgres", connect_timeout=5, **PG) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    with redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=5) as client:
        redis_version = client.info("server")["redis_version"]
    return postgres, redis_version


def child_env(workdir, **extra):
    env = dict(os.environ)
    for name in ("CELERY_TASK_ALWAYS_EAGER", "DEBUG", "PRODUCTION", "CACHE_URL"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings", DATABASE_URL=database_url(),
        CELERY_BROKER_URL=BROKER_URL, BENCH_DATABASE=DATABASE, CONSOLE_VAR_DIR=str(workdir), LOG_LEVEL="WARNING",
        LANGUAGE_CODE="en", SANDBOX_ENABLED="0", PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


# -- processes -----------------------------------------------------------------------------
def _pdeathsig():
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)


def spawn(argv, env, log_path):
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_pdeathsig())


def stop(process, timeout=20):
    """SIGTERM to the process (a Celery worker ends its pool itself), then SIGKILL to its
    group for whatever is left."""
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait(timeout=10)


def has_gunicorn():
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return False
    return True


class Web:
    """The console's web server: gunicorn with 2 sync workers (one per core), or runserver."""

    def __init__(self, workdir, env):
        self.workdir, self.env = Path(workdir), env
        self.port = free_port()
        self.process = None
        self.kind = "gunicorn -w 2 (sync)" if has_gunicorn() else "runserver --noreload (threaded)"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        if has_gunicorn():
            argv = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-w", "2",
                    "-b", f"127.0.0.1:{self.port}", "--timeout", "300", "--backlog", "256"]
        else:
            argv = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}",
                    "--noreload"]
        log = self.workdir / "web.log"
        self.process = spawn(argv, self.env, log)
        wait_port(self.port, self.process, "web server", log)
        return self

    def pids(self):
        return process_tree(self.process.pid)

    def stop(self):
        stop(self.process)
        self.process = None


class Workers:
    """One Celery worker, prefork pool of 2 processes, on the push, batch and default queues."""

    count = 0

    def __init__(self, workdir, env, concurrency=2):
        self.workdir, self.env, self.concurrency = Path(workdir), env, concurrency
        self.process = None

    def start(self):
        Workers.count += 1
        self.log = self.workdir / f"worker{Workers.count}.log"
        ready = self.workdir / f"worker{Workers.count}.ready"
        ready.unlink(missing_ok=True)
        self.process = spawn([
            sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", QUEUES,
            "-c", str(self.concurrency), "-n", f"bench{Workers.count}-{os.getpid()}@%h",
            "--without-mingle", "--without-gossip", "--without-heartbeat",
            "--loglevel", "WARNING"], {**self.env, "BENCH_READY_FILE": str(ready)}, self.log)
        # Ready when the worker's worker_ready signal wrote the file (bench.apps): connected
        # to the broker, consuming, its pool started.
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                code = self.process.poll()
                self.stop()
                raise RuntimeError(f"celery worker did not start in {START_TIMEOUT} s "
                                   f"(exit {code}):\n"
                                   + self.log.read_text(errors="replace")[-3000:])
            time.sleep(0.1)
        return self

    def pids(self):
        return process_tree(self.process.pid)

    def peak_rss_mb(self):
        """Per process VmHWM (peak resident set) of the worker and its pool, in MB."""
        return {pid: vm_hwm_mb(pid) for pid in self.pids()}

    def stop(self):
        stop(self.process, timeout=30)
        self.process = None


def process_tree(pid):
    """The process and its descendants, from /proc (no psutil needed)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # "pid (comm) state ppid …": comm may hold spaces and parentheses.
            stat = (entry / "stat").read_text()
            ppid = int(stat.rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        children.setdefault(ppid, []).append(int(entry.name))
    tree, queue = [], [pid]
    while queue:
        current = queue.pop(0)
        tree.append(current)
        queue.extend(sorted(children.get(current, [])))
    return tree


def vm_hwm_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
