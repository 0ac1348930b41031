"""The benchmark's CPU accounting (bench.cpu): a process tree's seconds include what its
children spent, whether they are still running or have exited and been reaped, and a part
counted alone leaves its children out."""
import subprocess
import sys

from bench import cpu

# A parent that starts a child burning 0.3 s of CPU, reaps it, then waits to be stopped.
PARENT = """
import subprocess, sys, time
subprocess.run([sys.executable, "-c",
                "import time\\nwhile time.process_time() < 0.3: pass"], check=True)
print("reaped", flush=True)
time.sleep(60)
"""


def test_a_tree_keeps_the_seconds_of_a_child_that_exited():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        before = cpu.Snapshot.take(tree=parent.pid)
        assert parent.stdout.readline().strip() == "reaped"
        after = cpu.Snapshot.take(tree=parent.pid, harness=parent.pid)
        spent = after.since(before)
        # The child ran and exited between the two snapshots: only the parent's cutime has it.
        assert spent["tree"] >= 0.25
        assert "harness" not in spent  # not in the earlier snapshot: no delta to give
        # Counted alone, the parent is only its own (small) start-up and wait.
        assert cpu.seconds(parent.pid, tree=False) < cpu.seconds(parent.pid) - 0.25
    finally:
        parent.kill()
        parent.wait()


def test_per_item_names_every_part_and_how_busy_the_cores_were(monkeypatch):
    monkeypatch.setattr(cpu.os, "cpu_count", lambda: 2)
    text = cpu.per_item({"workers": 0.6, "web": 0.2, "PostgreSQL": 0.2}, 1000, 1.0)
    assert text == "1.00 ms: workers 0.60, web 0.20, PostgreSQL 0.20; 2 cores 50 % busy"


def test_a_process_that_is_gone_counts_nothing():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert cpu.seconds(gone.pid) == 0
    assert cpu.Snapshot.take(gone=gone.pid).parts == {}
