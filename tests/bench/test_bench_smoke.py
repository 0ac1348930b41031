"""The benchmark command works (issue 9): `manage.py bench --smoke` runs every scenario at a
tiny size against PostgreSQL, Redis, real Celery workers and nginx, exits 0 and prints the
table. It asserts no figure and no time: performance is read from BENCHMARKS.md, not tested.

PostgreSQL pass only (the harness creates its own PostgreSQL database). A run holds Redis db
12, its broker, with a lock: started while another benchmark runs, this one waits for it
(bench.services.LOCK_WAIT), hence the generous timeout — a guard against a hang, not a
measure."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES, require_service

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres_only, pytest.mark.services]


def test_bench_smoke_runs_and_prints_the_table():
    from bench.nginx import INSTALL_HINT, nginx_path
    from bench.services import LOCK_WAIT

    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", "127.0.0.1", 6379)
    if nginx_path() is None:
        if REQUIRE_SERVICES:
            pytest.fail(INSTALL_HINT + " (REQUIRE_SERVICES=1)")
        pytest.skip(INSTALL_HINT)
    # The harness builds its own world: its settings, database and broker, not the suite's.
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL")}
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), "bench", "--smoke"],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=LOCK_WAIT + 600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "BENCHMARK RESULTS" in done.stdout, output[-6000:]
    for figure in ("ingest", "push", "CPU per delivery", "CPU per post of the loop", "latency",
                   "plain Celery task per push", "history re-push", "cleanup of",
                   "admin push log"):
        assert figure in done.stdout, f"no {figure!r} row:\n{done.stdout[-6000:]}"
    assert "FAILED" not in done.stdout, done.stdout[-6000:]
