"""The sandbox's endpoints. Each reads the request through its protocol, lets the protocol's
behaviour decide the answer, stores the arrival and answers.

The behaviour applies in this order: an outage ("error", or one of the first N calls of
"fail the first N") answers before anything is looked at, as a gateway in front of a down
server would; "slow" waits, then goes on; what the real system refuses whatever it is told
(a missing field, a bad token, wrong credentials) is refused; "refuse" refuses the rest with
the behaviour's message; everything else succeeds. Answers that are not about a push (a wrong
method, an unknown operation, E10's token calls) bypass the behaviour.
"""
import time

from django.conf import settings
from django.http import Http404, JsonResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from ..models import SandboxBehaviour, SandboxMode
from ..models.sandbox import MAX_DELAY
from . import store
from .base import MAX_BODY_BYTES, Answer, Arrival, BodyTooBig
from .e10 import E10, RECEIVE
from .ecology import Ecology
from .landray import Landray, wsdl_response
from .webhook import Webhook

ECOLOGY, E10_API, LANDRAY, WEBHOOK = Ecology(), E10(), Landray(), Webhook()
sleep = time.sleep  # a seam for the tests


def enabled():
    return getattr(settings, "SANDBOX_ENABLED", True)


def handle(request, protocol, operation, read):
    if not enabled():
        raise Http404(_("The sandbox is switched off (SANDBOX_ENABLED)."))
    behaviour = SandboxBehaviour.of(protocol.key)
    try:
        arrival = read(behaviour)
    except BodyTooBig:
        arrival = Arrival(operation[:64], reply=Answer(
            413, _("The body is larger than %(size)d bytes.") % {"size": MAX_BODY_BYTES},
            "text/plain"))
    answer = arrival.reply if arrival.reply is not None else decide(protocol, arrival, behaviour)
    store.record(request, protocol.key, arrival, answer, behaviour.mode)
    return answer.response()


def decide(protocol, arrival, behaviour):
    mode = behaviour.mode
    if mode == SandboxMode.ERROR or (mode == SandboxMode.FAIL_FIRST_N
                                     and behaviour.take_failure()):
        return protocol.unavailable(behaviour)
    if mode == SandboxMode.SLOW:
        sleep(min(behaviour.delay, MAX_DELAY))
    if arrival.rejection is not None:
        return arrival.rejection
    if mode == SandboxMode.REFUSE:
        return protocol.refusal(arrival, behaviour.message or protocol.default_refusal)
    return protocol.success(arrival)


@csrf_exempt
def ecology(request, operation):
    return handle(request, ECOLOGY, operation, lambda b: ECOLOGY.read(request, operation, b))


@csrf_exempt
def e10_oauth(request, operation):
    return handle(request, E10_API, operation, lambda b: E10_API.read_oauth(request, operation, b))


@csrf_exempt
def e10_receive(request):
    return handle(request, E10_API, RECEIVE, lambda b: E10_API.read(request, RECEIVE, b))


@csrf_exempt
def landray(request):
    if request.method == "GET" and "wsdl" in {key.lower() for key in request.GET}:
        if not enabled():
            raise Http404(_("The sandbox is switched off (SANDBOX_ENABLED)."))
        return wsdl_response(request)
    return handle(request, LANDRAY, "", lambda b: LANDRAY.read(request, "", b))


@csrf_exempt
def webhook(request, rest):
    return handle(request, WEBHOOK, rest, lambda b: WEBHOOK.read(request, rest, b))


def index(request):
    """The server URL to give a push config for each protocol."""
    if not enabled():
        raise Http404(_("The sandbox is switched off (SANDBOX_ENABLED)."))
    origin = request.build_absolute_uri("/").rstrip("/")
    base = origin + reverse("sandbox:index").rstrip("/")
    return JsonResponse({
        "server_urls": {"ecology": base + "/ecology", "e10": base + "/e10",
                        "landray_soap": base + "/landray", "webhook": base + "/webhook/<name>"},
        "arrivals": _arrivals_url(origin),
    }, json_dumps_params={"ensure_ascii": False})


def _arrivals_url(origin):
    try:
        return origin + reverse("admin:pushconfig_sandboxarrival_changelist")
    except NoReverseMatch:  # the admin pages are not registered
        return None
