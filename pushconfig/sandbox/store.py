"""Storing arrivals, bounded: the newest `RETAIN` are kept. Every `TRIM_EVERY`-th arrival (by
id) deletes the older ones in one indexed DELETE, so no request pays more than a small, rare
cost and no periodic task is needed."""
from urllib.parse import urlencode

from integration.secrets import mask

from ..models import SandboxArrival
from .base import SECRET_KEYS, clean, headers_of

RETAIN = 10_000
TRIM_EVERY = 100


def record(request, protocol, arrival, answer, mode):
    # The URL's own text (/sandbox/webhook/a%00b) is cleaned like the body: an answer may
    # echo the operation.
    row = SandboxArrival.objects.create(
        protocol=protocol, operation=clean(arrival.operation)[:64], method=request.method[:8],
        path=clean(path_of(request))[:500], remote_addr=request.META.get("REMOTE_ADDR") or None,
        headers=headers_of(request), body=arrival.body, body_text=arrival.text,
        summary=arrival.summary[:300], mode=mode, status=answer.status,
        answer=clean(answer.text()), accepted=answer.accepted,
    )
    if row.pk % TRIM_EVERY == 0:
        trim()
    return row


def trim(retain=None):
    """Delete every arrival older than the newest `retain`. Returns how many went."""
    retain = RETAIN if retain is None else retain
    boundary = list(SandboxArrival.objects.order_by("-id").values_list("id", flat=True)
                    [retain:retain + 1])
    if not boundary:
        return 0
    deleted, _per_model = SandboxArrival.objects.filter(id__lte=boundary[0]).delete()
    return deleted



def path_of(request):
    """The path and query, secret query parameters (an access_token) masked."""
    if not request.GET:
        return request.path
    query = [(k, mask(v) if k.lower() in SECRET_KEYS and v else v)
             for k, values in request.GET.lists() for v in values]
    return f"{request.path}?{urlencode(query)}"
