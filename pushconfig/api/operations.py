"""What the admin and the API both do to push configs and push records: test a connection,
re-push records. One implementation, two surfaces."""
import logging

from django.db import transaction
from django.utils.translation import gettext as _

from ..delivery import enqueue_lanes, lanes_of, transport_for
from ..models import PushRecord
from ..models.log import RESTART
from ..transports import Delivery

log = logging.getLogger(__name__)

# One call re-pushes or deletes at most this many records; larger selections are done in turns.
MAX_BULK = 10000
SNIPPET = 300


def check_connection(config) -> Delivery:
    """Send the push type's harmless test request to the config's target. Never raises: a
    failure of any kind (including a stored secret that no longer decrypts) is the answer."""
    try:
        return transport_for(config).test_connection()
    except Exception as exc:  # the administrator needs the reason, not a 500
        log.warning("connection test of push config %s failed", config.pk, exc_info=True)
        return Delivery(False, _("The connection test could not run: %(error)s") % {"error": exc},
                        error_class=type(exc).__name__)


def describe(config, result: Delivery) -> str:
    """One line for a message: the target's answer, or the reason of the failure."""
    snippet = (result.response or "").strip().replace("\n", " ")
    if len(snippet) > SNIPPET:
        snippet = snippet[:SNIPPET] + "…"
    values = {"config": str(config), "reason": result.reason, "status": result.http_status,
              "answer": snippet or "—"}
    if result.ok:
        if result.http_status is not None:
            return _("%(config)s: the target answered (HTTP %(status)s): %(answer)s") % values
        return _("%(config)s: the target answered: %(answer)s") % values
    if result.http_status is not None:
        return _("%(config)s: connection test failed: %(reason)s (HTTP %(status)s): "
                 "%(answer)s") % values
    return _("%(config)s: connection test failed: %(reason)s") % values


def delivery_as_dict(result: Delivery) -> dict:
    return {"ok": result.ok, "reason": result.reason, "permanent": result.permanent,
            "http_status": result.http_status, "request": result.request,
            "response": result.response, "duration_ms": result.duration_ms,
            "error_class": result.error_class}


def repush(queryset):
    """Set up to MAX_BULK records of `queryset` back to pending with one UPDATE, and hand
    their lanes to workers once the transaction commits. Intercepted and ignored records go
    too: re-pushing is the administrator's decision. Returns (re-pushed, more_left)."""
    ids = list(queryset.order_by("id").values_list("id", flat=True)[:MAX_BULK + 1])
    more = len(ids) > MAX_BULK
    ids = ids[:MAX_BULK]
    if not ids:
        return 0, False
    with transaction.atomic():
        count = PushRecord.objects.filter(pk__in=ids).update(**RESTART)
        pairs = lanes_of(PushRecord.objects.filter(pk__in=ids))
        transaction.on_commit(lambda: enqueue_lanes(pairs))
    return count, more


def delete_records(queryset):
    """Delete up to MAX_BULK records of `queryset` (their attempts go with them)."""
    ids = list(queryset.order_by("id").values_list("id", flat=True)[:MAX_BULK + 1])
    more = len(ids) > MAX_BULK
    ids = ids[:MAX_BULK]
    if not ids:
        return 0, False
    _total, per_model = PushRecord.objects.filter(pk__in=ids).delete()
    return per_model.get(PushRecord._meta.label, 0), more
