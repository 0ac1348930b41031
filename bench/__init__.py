"""The benchmark harness of the console (issue 9): `python manage.py bench`.

It builds its own world — a PostgreSQL database `console_bench` (created and dropped), Redis
db 12 as the broker, real Celery worker processes, a gunicorn web server and nginx as the
receiver on 127.0.0.1 — runs the scenarios in `bench/scenarios/` and prints one table of
figures and ratios, all measured side by side in the same run. See BENCHMARKS.md.
"""
