"""End-to-end fixtures: the console started the way the README starts it, and a headless
Chromium (Debian's package, driven by Playwright; no browser is ever downloaded).

`console` runs the real `manage.py migrate`, `demo` and `runconsole` as subprocesses, on a
SQLite file and a filesystem broker in a temporary CONSOLE_VAR_DIR, so ./var is never
touched. Its whole output lands in test-artifacts/ for a failed CI run to be read.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DEMO_PASSWORD = "e2e-Demo-pass-2024"
START_TIMEOUT = 90


def _missing(reason):
    if REQUIRE_SERVICES:
        pytest.fail(reason + " (REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _missing(f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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


@dataclass
class Console:
    process: subprocess.Popen
    port: int
    env: dict
    var_dir: Path
    log_path: Path
    demo_output: str

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def manage(self, *args, timeout=120):
        """Run manage.py against this console's data, as a separate process."""
        return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=self.env,
                              cwd=self.var_dir, capture_output=True, text=True, timeout=timeout)

    def celery(self, *args, timeout=60):
        # From the data directory, like runconsole's children: the filesystem broker keeps
        # its exchange table in a folder relative to the working directory.
        return subprocess.run([sys.executable, "-m", "celery", "-A", "config", *args],
                              env=self.env, cwd=self.var_dir, capture_output=True, text=True,
                              timeout=timeout)

    def children(self):
        """{pid: command line} of runconsole's direct children."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid == self.process.pid:
                    cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    found[int(entry.name)] = cmdline.strip()
            except (OSError, ValueError, IndexError):
                continue
        return found


def _console_env(var_dir):
    env = dict(os.environ)
    # The browser test always runs on the embedded defaults, whatever this shell points at.
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "DEMO_ADMIN_PASSWORD",
                 "CELERY_TASK_ALWAYS_EAGER", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    env.update(CONSOLE_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1",
               DJANGO_SETTINGS_MODULE="config.settings")
    return env


@pytest.fixture
def console(tmp_path):
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    env = _console_env(var_dir)
    manage = [sys.executable, str(ROOT / "manage.py")]

    migrate = subprocess.run([*manage, "migrate", "--no-input"], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    port = free_port()
    # The demo's sandbox push config must point at the port this console will listen on.
    demo = subprocess.run([*manage, "demo", "--password", DEMO_PASSWORD,
                           "--url", f"http://127.0.0.1:{port}/admin/"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stdout + demo.stderr

    log_path = tmp_path / "console.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*manage, "runconsole", "--port", str(port), "--noreload"], env=env, cwd=ROOT,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole below
        )
    console = Console(process, port, env, var_dir, log_path, demo.stdout)
    seen_children = {}
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not answers(port):
            seen_children.update(console.children())
            if process.poll() is not None:
                pytest.fail(f"runconsole exited with {process.returncode}:\n{console.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the console did not answer on port {port} within "
                            f"{START_TIMEOUT}s:\n{console.log()[-5000:]}")
            time.sleep(0.3)
        seen_children.update(console.children())
        yield console
        seen_children.update(console.children())
    finally:
        _stop(process, seen_children)
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copyfile(log_path, ARTIFACTS / "console.log")


def _stop(process, children):
    """SIGTERM to runconsole's group (it stops its children), SIGKILL if that fails, then
    make sure no child outlived it."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=40)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    for pid in children:  # each child leads its own process group
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
