"""The plain baseline of figure 4: what a Django team writes first — one Celery task per
push, `requests.post` in it, nothing stored. Routed to the "default" queue."""
import requests
from celery import shared_task


@shared_task(name="bench.tasks.post_one", ignore_result=True)
def post_one(url, body, key):
    response = requests.post(url, json=body, headers={"Idempotency-Key": key}, timeout=(5, 15))
    response.raise_for_status()
