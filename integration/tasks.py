from celery import shared_task

from . import statistics


@shared_task(ignore_result=True)
def refresh_statistics(tables):
    """ANALYZE the bulk-written tables whose statistics fell behind (see statistics.py)."""
    statistics.refresh(tables)
