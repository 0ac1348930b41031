"""The web server's and the workers' processes take the loaded console out of the garbage
collector's reach (config.startup). Checked in fresh interpreters: freezing the test
process itself would change every other test's memory behaviour."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _frozen(code):
    script = code + "\nimport gc\nprint(gc.get_freeze_count())"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True,
                         env=dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings"))
    return int(out.stdout.strip().splitlines()[-1])


def test_the_wsgi_application_freezes_what_it_loaded_with_its_views():
    frozen = _frozen(
        "import config.wsgi, sys\n"
        "assert 'integration.api.inbox' in sys.modules, 'the URLconf was not loaded'")
    assert frozen > 50_000


def test_each_worker_pool_process_freezes_when_it_starts():
    frozen = _frozen(
        "import django; django.setup()\n"
        "from config.celery import app\n"
        "from celery import signals\n"
        "signals.worker_process_init.send(sender=None)")
    assert frozen > 50_000


def test_a_plain_interpreter_is_not_frozen():
    """The two checks above see the console's doing, not the interpreter's default."""
    frozen = _frozen("pass")
    assert frozen == 0
