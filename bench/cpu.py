"""Where a scenario's CPU went: seconds per part of the world (workers, web server,
PostgreSQL, nginx, Redis, the harness), read from /proc before and after.

Rates moved up to 1.8× from one minute to the next on the shared machines the figures were
taken on; CPU seconds per delivery, and the loop's per post, move far less, and they say what
a rate cannot: which process a delivery costs most in, and how far two cores go.

A part is a process tree. Its seconds are the user and system time of every member plus the
time of the children each member has reaped (`cutime`, `cstime`): a PostgreSQL backend whose
connection closed during the scenario is counted in the postmaster's, so nothing that ran
and exited in between is lost, and nothing is counted twice."""
import os
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from .services import _redis, process_tree

TICK = os.sysconf("SC_CLK_TCK")


def seconds(pid, tree=True):
    """CPU seconds of a process tree, reaped children included; with `tree` false, of the
    process alone (the harness: the servers are its children)."""
    total = 0
    for member in process_tree(pid) if tree else [pid]:
        try:
            # Fields 14–17 (utime, stime, cutime, cstime) are the 12th to 15th after the comm.
            fields = _stat(member)
            total += sum(int(value) for value in fields[11:15 if tree else 13])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile: its parent has it now
    return total / TICK


def _stat(pid):
    """The fields of /proc/<pid>/stat after "pid (comm)": the comm may hold spaces."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def postmaster():
    """The PostgreSQL server's root process: the parent of our own backend."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        return int(_stat(backend)[1])  # its parent
    except OSError:
        return None  # a server elsewhere: not counted


def redis_server():
    try:
        with _redis() as client:
            return int(client.info("server")["process_id"])
    except Exception:  # a server we cannot see: not counted
        return None


# Parts counted as one process, not a tree: the harness is the parent of the servers.
ALONE = {"harness", "loop"}


@dataclass
class Snapshot:
    parts: dict  # name -> root pid
    at: dict  # name -> CPU seconds

    @classmethod
    def take(cls, **parts):
        parts = {name: pid for name, pid in parts.items()
                 if pid is not None and Path(f"/proc/{pid}").exists()}
        return cls(parts, {name: seconds(pid, tree=name not in ALONE)
                           for name, pid in parts.items()})

    def since(self, earlier):
        """CPU seconds per part between an earlier snapshot and this one."""
        return {name: max(0.0, self.at[name] - earlier.at[name])
                for name in self.parts if name in earlier.at}


def world(ctx, workers=None):
    """A snapshot of every part a scenario runs on."""
    parts = dict(workers=workers.process.pid if workers else None,
                 web=ctx.web.process.pid, PostgreSQL=postmaster(),
                 nginx=ctx.receiver.process.pid, Redis=redis_server(), harness=os.getpid())
    return Snapshot.take(**parts)


def per_item(spent, count, wall):
    """'1.31 ms: workers 0.70, web 0.32, …; 2 cores 94 % busy' for `count` items."""
    total, cores = sum(spent.values()), os.cpu_count() or 1
    parts = ", ".join(f"{name} {1000 * value / count:.2f}"
                      for name, value in sorted(spent.items(), key=lambda item: -item[1]))
    busy = 100 * total / (cores * wall) if wall else 0
    return f"{1000 * total / count:.2f} ms: {parts}; {cores} cores {busy:.0f} % busy"
