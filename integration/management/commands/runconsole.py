"""Run the whole console in one terminal: the web server, a Celery worker on every queue and
Celery beat with the database scheduler, as child processes.

Each child runs in its own process group, so a stop reaches the child's own children too
(runserver's autoreloader, the worker's pool) and each child gets exactly one signal, whether
the stop came from Ctrl-C in the terminal or from `kill`. Ctrl-C / SIGTERM stop all three;
when one child dies, the others are stopped and the command exits with an error. On Linux the
children are also told to stop if this process is killed outright (PR_SET_PDEATHSIG).
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from config.celery import QUEUES

SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
STOP_TIMEOUT = 20  # seconds a child gets to finish (a worker ends its running tasks)


def _parent_death_signal():
    """A preexec_fn that makes the child get SIGTERM when this process dies (Linux), or None.
    libc is loaded here, in the parent: after fork only the call itself runs."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class Child:
    """One child process, its output copied line by line with its name in front.

    `group_stop`: stop signals go to the child's whole process group (runserver's autoreloader
    parent does not pass them on to the server it runs); otherwise only to the child, which
    stops its own pool (Celery), and the group only gets the final SIGKILL."""

    def __init__(self, name, argv, cwd, env, out, group_stop=False):
        self.name = name
        self.group_stop = group_stop
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, process_group=0,
            preexec_fn=_parent_death_signal(),
        )
        self.reader = threading.Thread(target=self._copy_output, args=(out,), daemon=True)
        self.reader.start()

    def _copy_output(self, out):
        prefix = f"{self.name:<6}| "
        for raw in iter(self.process.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            out(prefix + line)

    def signal(self, signum):
        try:
            if self.group_stop or signum == signal.SIGKILL:
                os.killpg(self.process.pid, signum)
            elif self.process.poll() is None:
                self.process.send_signal(signum)
        except ProcessLookupError:
            pass


class Command(BaseCommand):
    help = ("Run the console: web server, Celery worker (all queues) and Celery beat, "
            "together. Ctrl-C stops all of them.")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1",
                            help="Address the web server listens on (default: %(default)s).")
        parser.add_argument("--port", type=int, default=8000,
                            help="Port of the web server (default: %(default)s).")
        parser.add_argument("--noreload", action="store_true",
                            help="Do not restart the web server when code changes.")

    def handle(self, *args, **options):
        addr, port = options["addr"], options["port"]
        if not 0 < port < 65536:
            raise CommandError(_("--port %(port)d is not a port number.") % {"port": port})
        self._lock = threading.RLock()  # reentrant: the signal handler prints too
        self._stopping = None
        children = self._start(addr, port, options["noreload"])
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(addr, addr)
        base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        url = f"{base}/admin/"
        self._say(_("Admin: %(admin)s   API docs: %(docs)s")
                  % {"admin": url, "docs": f"{base}/api/docs/"})
        self._say(_("Worker queues: %(queues)s (concurrency %(concurrency)d); beat: "
                    "DatabaseScheduler. Ctrl-C stops all.")
                  % {"queues": ",".join(QUEUES),
                     "concurrency": settings.CELERY_WORKER_CONCURRENCY})
        code = self._supervise(children, host, port, url)
        if code:
            sys.exit(code)

    def _start(self, addr, port, noreload):
        base = Path(settings.BASE_DIR)
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        env["PYTHONUNBUFFERED"] = "1"
        # The children run in the data directory: Celery's filesystem broker keeps its
        # exchange table in a relative "control" folder. So the project goes on the path.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(base), env.get("PYTHONPATH")) if p)
        python = sys.executable
        web = [python, str(base / "manage.py"), "runserver", f"{addr}:{port}",
               # serve the admin's static files even with DEBUG off: this is the local console
               "--insecure"]
        if noreload:
            web.append("--noreload")
        worker = [python, "-m", "celery", "-A", "config", "worker", "-Q", ",".join(QUEUES),
                  "--concurrency", str(settings.CELERY_WORKER_CONCURRENCY), "--loglevel", "INFO",
                  "-n", f"console-{port}@%h"]
        beat = [python, "-m", "celery", "-A", "config", "beat", "--scheduler", SCHEDULER,
                "--loglevel", "INFO"]
        var = Path(settings.VAR_DIR)
        self._install_handlers()
        children = []
        try:
            children.append(Child("web", web, var, env, self._say, group_stop=True))
            children.append(Child("worker", worker, var, env, self._say))
            children.append(Child("beat", beat, var, env, self._say))
        except OSError as exc:
            self._stop(children)
            raise CommandError(_("Could not start the console: %(error)s")
                               % {"error": exc}) from exc
        return children

    def _install_handlers(self):
        def on_signal(signum, frame):
            if self._stopping is None:
                self._stopping = signum
                self._say(_("Got %(signal)s: stopping web, worker and beat …")
                          % {"signal": signal.Signals(signum).name})

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, on_signal)

    def _supervise(self, children, host, port, url):
        up = False
        while self._stopping is None:
            dead = [c for c in children if c.process.poll() is not None]
            if dead:
                for child in dead:
                    self._say(_("%(name)s exited with code %(code)d; stopping the others.")
                              % {"name": child.name, "code": child.process.returncode})
                self._stop(children)
                code = dead[0].process.returncode
                return 128 - code if code < 0 else code or 1
            if not up and _answers(host, port):
                up = True
                self._say(_("The console is up: %(url)s") % {"url": url})
            time.sleep(0.3)
        self._stop(children)
        return 0

    def _stop(self, children):
        for child in children:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say(_("%(name)s did not stop in %(seconds)d s; killing it.")
                          % {"name": child.name, "seconds": STOP_TIMEOUT})
                child.signal(signal.SIGKILL)
                child.process.wait()
        for child in children:
            child.reader.join(timeout=2)

    def _say(self, line):
        with self._lock:
            self.stdout.write(line)
            self.stdout.flush()


def _answers(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
