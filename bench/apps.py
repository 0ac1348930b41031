import os
from pathlib import Path

from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "bench"
    label = "bench"
    verbose_name = "Benchmark harness"

    def ready(self):
        from celery.signals import worker_ready

        worker_ready.connect(_say_ready, weak=False, dispatch_uid="bench-worker-ready")


def _say_ready(**kwargs):
    """A worker started by the harness says when it consumes (the harness waits for this
    file): at log level WARNING it prints nothing then, and guessing from its pool processes
    raced a slow start on a busy machine."""
    path = os.environ.get("BENCH_READY_FILE")
    if path:
        Path(path).write_text(str(os.getpid()))
