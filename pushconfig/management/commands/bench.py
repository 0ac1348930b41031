"""`python manage.py bench [--size small|medium|large] [--only ingest,push,…] [--smoke]`:
the benchmark harness of the console (code in the top-level `bench/` package; BENCHMARKS.md
says what it measures and how). It needs PostgreSQL and Redis on 127.0.0.1 and nginx on the
PATH; it creates and drops its own database (`console_bench`) and uses Redis db 12."""
import sys

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = ("Benchmark the console against PostgreSQL, Redis, real Celery workers and an nginx "
            "receiver on 127.0.0.1; prints a table of figures and ratios.")
    requires_system_checks = []

    def add_arguments(self, parser):
        from bench.runner import SCENARIOS, SIZES

        parser.add_argument("--size", choices=list(SIZES), default="medium")
        parser.add_argument("--only", default=",".join(SCENARIOS),
                            help="comma-separated scenarios: " + ",".join(SCENARIOS))
        parser.add_argument("--smoke", action="store_true",
                            help="the tiny run CI does (--size small): that it works, no more")
        parser.add_argument("--profile", metavar="DIR",
                            help="sample the web server (ingest) and the workers (push, "
                                 "history) with py-spy and write collapsed stacks and a "
                                 "summary to DIR")
        parser.add_argument("--markdown", metavar="PATH",
                            help="write the results into PATH (e.g. BENCHMARKS.md), between "
                                 "its bench:begin and bench:end markers")
        parser.add_argument("--count", type=int, metavar="N",
                            help="figures 1, 2 and 5 at N events only, instead of the size's "
                                 "three counts: a quick look, or a profile of one size")
        parser.add_argument("--inner", action="store_true", help="(internal)")

    def handle(self, *args, **options):
        from bench import runner

        size = "small" if options["smoke"] else options["size"]
        only = [name.strip() for name in options["only"].split(",") if name.strip()]
        unknown = set(only) - set(runner.SCENARIOS)
        if unknown:
            raise CommandError(f"unknown scenario(s): {', '.join(sorted(unknown))}; "
                               f"choose from {', '.join(runner.SCENARIOS)}")
        if options["inner"]:
            code = runner.run_inner(size, only, options["profile"], options["markdown"],
                                    options["smoke"], options["count"])
        else:
            problems = runner.preflight()
            if problems:
                raise CommandError("cannot benchmark:\n  " + "\n  ".join(problems))
            argv = ["--size", size, "--only", ",".join(only)]
            if options["count"]:
                argv += ["--count", str(options["count"])]
            for flag in ("profile", "markdown"):
                if options[flag]:
                    from pathlib import Path

                    argv += [f"--{flag}", str(Path(options[flag]).resolve())]
            code = runner.run_outer(argv, self.stdout)
        if code:
            sys.exit(code)
