"""The harness: sizes, the world every scenario shares, the table and BENCHMARKS.md.

`manage.py bench` (outer) creates the database and re-runs itself with `--inner` under
`bench.settings` pointed at it; the inner process migrates, starts nginx and the web server,
runs the scenarios (each starts and stops its own Celery workers) and prints the table.
"""
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import services
from .nginx import INSTALL_HINT, Receiver, nginx_path

SCENARIOS = ("ingest", "push", "latency", "compare", "history", "admin", "cleanup")

# growth: figures 1 and 2 at each count; history: figure 5 at each count; log: the push log
# of figures 6 and 7 (eligible records; the log holds 20 % more); compare: figure 4's workload.
SIZES = {
    "small": dict(growth=[1000], history=[500], log=5_000, compare=1000, latency_s=3,
                  loop_cap=1000),
    "medium": dict(growth=[10_000, 30_000, 100_000], history=[10_000, 30_000, 100_000],
                   log=1_000_000, compare=10_000, latency_s=30, loop_cap=10_000),
    "large": dict(growth=[10_000, 100_000, 1_000_000], history=[10_000, 100_000, 1_000_000],
                  log=1_000_000, compare=10_000, latency_s=60, loop_cap=20_000),
}


@dataclass
class Row:
    figure: str
    name: str
    value: str
    target: str = ""
    met: bool | None = None

    @property
    def status(self):
        return {True: "met", False: "MISSED", None: ""}[self.met]


@dataclass
class Context:
    size: str
    counts: dict
    workdir: Path
    env: dict
    receiver: Receiver
    web: services.Web
    token: str
    config: object
    profile_dir: Path | None = None
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    results: dict = field(default_factory=dict)
    loads: list = field(default_factory=list)  # (scenario, 1-min load before, after)

    def row(self, figure, name, value, target="", met=None):
        row = Row(figure, name, value, target, met)
        self.rows.append(row)
        print(f"  [{figure}] {name}: {value}" + (f"  (target {target}: {row.status})"
                                                   if target else ""), flush=True)
        return row

    def workers(self, concurrency=2):
        return services.Workers(self.workdir, self.env, concurrency).start()


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values):
    return statistics.median(values) if values else float("nan")


# -- outer ---------------------------------------------------------------------------------
def preflight():
    """Problems that stop the run before anything starts, each with what to do."""
    problems = []
    if nginx_path() is None:
        problems.append(INSTALL_HINT)
    if not services.answers(5432):
        problems.append("PostgreSQL is not answering on 127.0.0.1:5432")
    if not services.answers(6379):
        problems.append("Redis is not answering on 127.0.0.1:6379")
    return problems


def run_outer(argv, stdout):
    """Create the database, run the inner harness against it, always drop it."""
    workdir = Path(tempfile.mkdtemp(prefix="console-bench-"))
    lock = services.RunLock(f"{platform.node()}:{os.getpid()}")
    lock.acquire()
    services.create_database()
    try:
        env = services.child_env(workdir, BENCH_WORKDIR=workdir, BENCH_LOCK=lock.token)
        done = subprocess.run([sys.executable, str(services.ROOT / "manage.py"), "bench",
                               "--inner", *argv], env=env, cwd=services.ROOT)
        return done.returncode
    finally:
        services.drop_database()
        services.flush_broker()
        lock.release()


# -- inner ---------------------------------------------------------------------------------
def setup_world(workdir):
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from integration.models import ApiToken
    from pushconfig.models import PushConfig

    call_command("migrate", verbosity=0, interactive=False)
    try:
        from django_webhook.models import populate_topics_from_settings
    except ImportError:
        pass
    else:
        # Every process starting django_webhook writes its topics when they are missing: two
        # gunicorn workers booting at once on a fresh database raced on them and one died.
        populate_topics_from_settings()
    user = User.objects.create_superuser("bench", "bench@example.com", "bench-pw-1")
    _token, token = ApiToken.objects.issue(user, "bench")
    receiver = Receiver(workdir).start()
    config = PushConfig(enabled=True, identifier="bench", system_name="Bench target",
                        server_url=receiver.url + "/c", push_type="ecology")
    config.full_clean()
    config.set_params({"sysCode": "BENCH"})
    config.save()
    return receiver, token, config


def run_inner(size, only, profile_dir, markdown, smoke, count=None):
    from .scenarios import SCENARIO_FUNCTIONS
    from .workload import Ingest, bodies, reset

    workdir = Path(os.environ["BENCH_WORKDIR"])
    env = services.child_env(workdir)
    services.flush_broker()
    receiver, token, config = setup_world(workdir)
    web = services.Web(workdir, env).start()
    # Each web worker imports the broker's client on its first call (~0.5 s): paid here, as a
    # server up for a while has, not inside the first figure (scenarios start from empty tables).
    Ingest(web.url, token).run(bodies("warm-up", 80, size=10), threads=2)
    counts = dict(SIZES[size])
    if count:
        counts.update(growth=[count], history=[count])
    ctx = Context(size, counts, workdir, env, receiver, web, token, config,
                  Path(profile_dir) if profile_dir else None)
    started = time.monotonic()
    print(f"bench: size {size}; web {web.kind}; receiver nginx {receiver.url}; "
          f"workers: celery prefork -c 2 on {services.QUEUES}", flush=True)
    failed = []
    try:
        for name in SCENARIOS:
            if name not in only:
                continue
            print(f"-- {name}", flush=True)
            load_before = os.getloadavg()[0]
            services.RunLock(os.environ["BENCH_LOCK"]).renew()
            if not (name == "cleanup" and ctx.results.get("log_seeded")):
                reset()  # cleanup reuses the push log the admin scenario seeded
                ctx.results["log_seeded"] = False
            services.flush_broker()
            try:
                SCENARIO_FUNCTIONS[name](ctx)
            except Exception as exc:  # one scenario failing still prints the others
                import traceback

                traceback.print_exc()
                failed.append(name)
                ctx.row("-", f"{name} scenario", f"FAILED: {type(exc).__name__}: {exc}"[:200])
            ctx.loads.append((name, load_before, os.getloadavg()[0]))
    finally:
        web.stop()
        receiver.stop()
    ctx.results["seconds"] = time.monotonic() - started
    table = render_table(ctx.rows)
    print("\n" + table)
    for note in ctx.notes:
        print("note: " + note)
    print(f"bench: {len(ctx.rows)} figures in {ctx.results['seconds']:.0f} s"
          + (f"; failed scenarios: {', '.join(failed)}" if failed else ""))
    if markdown:
        write_markdown(Path(markdown), ctx, web.kind)
        print(f"bench: wrote {markdown}")
    return 1 if failed else 0


# -- output --------------------------------------------------------------------------------
HEADERS = ("#", "figure", "value", "target", "status")


def render_table(rows):
    cells = [HEADERS] + [(r.figure, r.name, r.value, r.target, r.status) for r in rows]
    widths = [max(len(str(c[i])) for c in cells) for i in range(len(HEADERS))]
    line = "+".join("-" * (w + 2) for w in widths)
    out = ["BENCHMARK RESULTS", line]
    for n, cell in enumerate(cells):
        out.append("|".join(f" {str(v):<{w}} " for v, w in zip(cell, widths)))
        if n == 0:
            out.append(line)
    out.append(line)
    return "\n".join(out)


def render_markdown_table(rows):
    out = ["| # | figure | value | target | status |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r.figure} | {r.name} | {r.value} | {r.target} | {r.status} |")
    return "\n".join(out)


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    postgres, redis_version = services.versions()
    nginx = subprocess.run([nginx_path(), "-v"], capture_output=True, text=True).stderr.strip()
    import celery
    import django

    return {
        "nproc": os.cpu_count(), "memory": f"{mem_kb / 1024 / 1024:.1f} GiB", "cpu": cpu,
        "PostgreSQL": postgres, "Redis": redis_version,
        # Which build, not only which version: compiled without PGO/LTO, the same release
        # spends a fifth to a third more CPU on the console's code (BENCHMARKS.md, 12th look).
        "Python": f"{platform.python_version()} ({os.path.realpath(sys.executable)})",
        "Django": django.get_version(),
        "Celery": celery.__version__, "nginx": nginx.replace("nginx version: ", ""),
        "kernel": platform.release(),
    }


def code_state():
    """The commit, and the files that differed from it when the run ended (a working tree that
    changes during a run makes the figures mix two versions)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=services.ROOT, capture_output=True,
                              text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    dirty = [line[3:] for line in git("status", "--porcelain").splitlines()
             if line[3:].startswith(("integration/", "pushconfig/", "config/"))]
    return f"commit {head}" + (f", with uncommitted changes in {', '.join(dirty)}" if dirty
                               else ", clean")


BEGIN, END = "<!-- bench:begin (written by manage.py bench) -->", "<!-- bench:end -->"


def write_markdown(path, ctx, web_kind):
    info = machine()
    lines = [BEGIN, "",
             f"Latest run: `python manage.py bench --size {ctx.size}"
             + (f" --count {ctx.counts['growth'][0]}" if ctx.counts != SIZES[ctx.size] else "")
             + f"` on {time.strftime('%Y-%m-%d %H:%M %Z')}, "
             f"{ctx.results['seconds']:.0f} s in all.", "",
             "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()) + ".", "",
             f"Processes: web {web_kind}; one Celery worker, prefork `-c 2`, queues "
             f"`{services.QUEUES}`; receiver nginx (1 worker process, keep-alive); the harness "
             "(load client, producers, the loop) is a fourth process. All share the 2 cores.", "",
             render_markdown_table(ctx.rows), ""]
    lines += [f"- {note}" for note in ctx.notes]
    lines += ["- 1-minute load average before → after each scenario (2 cores; above ~4 means "
              "other processes shared the machine): " + ", ".join(
                  f"{name} {a:.1f} → {b:.1f}" for name, a, b in ctx.loads)]
    lines += ["", END]
    lines.insert(-1, "- Code measured: " + code_state())
    block = "\n".join(lines)
    text = path.read_text() if path.exists() else "# Benchmarks\n\n" + BEGIN + "\n" + END + "\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text += "\n" + block + "\n"
    path.write_text(text)
