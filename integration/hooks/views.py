"""POST /hooks/tasks/<source>/<action>: the platform's approval-task callbacks.

No session, no token, no CSRF: the MD5 signature made with the source's system token is the
authentication. The checks run in this order, and the first failure answers a JSON 4xx naming
what is wrong, having stored nothing: action known (404), source known (404) and enabled (403),
body readable (413 too large, 415 wrong type, 400 malformed), sign present (400) and right
(403), then the parameters of the action (400). Refusals are logged at WARNING with the names
of the fields at fault, never their values, the token or the sign.
"""
import logging

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from ..models import CallbackSource
from . import service
from .errors import Refused
from .mapping import ACTIONS
from .params import normalise, read_params
from .signature import sign_matches

logger = logging.getLogger("integration.hooks")


@csrf_exempt
def task_callback(request, source, action):
    remote = request.META.get("REMOTE_ADDR")
    if request.method != "POST":
        response = JsonResponse(
            {"success": False, "errors": {"method": [_("Callbacks are sent with POST.")]}},
            status=405)
        response["Allow"] = "POST"
        return response
    try:
        callback_source = _source(source, action)
        raw = read_params(request)
        params = normalise(raw)
        _verify(callback_source, params)
        result = service.accept(callback_source, action, raw, params, remote)
    except Refused as exc:
        logger.warning("task callback refused: source=%.50r action=%.20r status=%d fields=%s "
                       "remote=%s", source, action, exc.status, sorted(exc.errors), remote)
        return JsonResponse({"success": False, "errors": exc.errors}, status=exc.status)
    logger.info("task callback accepted: source=%s action=%s log=%s duplicate=%s events=%d",
                source, action, result.log.pk, result.duplicate, len(result.outcomes))
    return JsonResponse(result.as_dict(), status=200)


def _source(slug, action):
    if action not in ACTIONS:
        raise Refused(404, {"action": _("Unknown action “%(action)s”; use one of: %(actions)s.")
                                      % {"action": action[:20], "actions": ", ".join(ACTIONS)}})
    found = CallbackSource.objects.filter(slug=slug).first()
    if found is None:
        raise Refused(404, {"source": _("No callback source “%(slug)s”.") % {"slug": slug}})
    if not found.enabled:
        raise Refused(403, {"source": _("The callback source “%(slug)s” is disabled.")
                                      % {"slug": slug}})
    return found


def _verify(source, params):
    sign = params.get("sign")
    if not sign:
        raise Refused(400, {"sign": _("This parameter is required.")})
    if not sign_matches(params, source.system_token, sign):
        raise Refused(403, {"sign": _("The signature does not match the parameters and the "
                                      "source's system token.")})
