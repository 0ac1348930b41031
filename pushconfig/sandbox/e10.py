"""The sandbox as Weaver E10's open API: the OAuth2 token calls and the unified todo receiver.

- `.../oauth2/authorize` (`corpid`, `response_type=code`, `state`) → `code`;
- `.../oauth2/access_token` (`app_key`, `app_secret`, `grant_type=authorization_code`, `code`)
  → `accessToken`, `refreshToken`, `expires_in`;
- `.../oauth2/refresh_token` (`grant_type=refresh_token`, `refresh_token`) → new tokens;
- `.../server_engine/receiveRequestInfo` (JSON with `access_token`) →
  `{"message": {"errcode": "200", "errmsg": "success"}, "data": {"operResult": "1"}}`.

Clients disagree on the token calls' success code (../shared/PROTOCOLS.md), so the sandbox sends
both: `errcode` "0" and the documented fields. Codes and tokens are signed with the console's
secret key and carry their own expiry, so the sandbox keeps no token table. A bad or expired
token gets `message.errcode` "401"; a malformed item "400"; the "refuse" behaviour answers
`message.errcode` "200" with `data.operResult` "0" and the reason in `data.message`.
Behaviours apply to the receiver only: token calls always answer (credentials permitting).
"""
import re

from django.core import signing
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import SandboxProtocol
from .base import (Answer, Arrival, Protocol, as_text, bad_datetime, clean, datetime_message,
                   masked, masked_text, missing, params_of, parse_json_object, read_body,
                   required_message, short)

TOKEN_SECONDS = 7200
CODE_SECONDS = 300
REFRESH_SECONDS = 30 * 86400
SALT = "pushconfig.sandbox.e10."
STATE = re.compile(r"^[A-Za-z0-9]{1,128}$")
ISREMARK = {"0", "2", "4", "8", "10", "-1"}
ITEM = ("syscode", "flowid", "requestname", "workflowname", "receiver", "isremark")
DELETE = ("syscode", "flowid", "receiver", "isremark")
RECEIVE = "receiveRequestInfo"
OAUTH = ("authorize", "access_token", "refresh_token")


def issue(kind, data):
    return signing.dumps(data, salt=SALT + kind, compress=True)


def redeem(kind, value, max_age):
    if not isinstance(value, str) or not value:
        return None
    try:
        return signing.loads(value, salt=SALT + kind, max_age=max_age)
    except signing.BadSignature:  # also SignatureExpired
        return None


class E10(Protocol):
    key = SandboxProtocol.E10
    default_refusal = gettext_lazy("The receiver does not exist.")

    # -- token calls ----------------------------------------------------------------------
    def read_oauth(self, request, operation, behaviour):
        if operation not in OAUTH:
            return Arrival(operation[:64], reply=Answer(
                404, _("No such operation: %(operation)s.") % {"operation": operation[:64]},
                "text/plain"))
        raw = read_body(request)
        params = clean(params_of(request, raw))
        shown = masked(params)
        arrival = Arrival("oauth2/" + operation, body=shown, text=as_text(shown),
                          summary=short(params.get("corpid"), params.get("app_key"),
                                        params.get("grant_type")))
        arrival.reply = getattr(self, "_" + operation)(params, behaviour)
        return arrival

    def _authorize(self, params, behaviour):
        absent = missing(params, ("corpid", "response_type"))
        if absent:
            return token_error("400", required_message(absent))
        if params["response_type"] != "code":
            return token_error("400", _("response_type must be “code”."))
        state = str(params.get("state") or "")
        if state and not STATE.match(state):
            return token_error("400", _("state must be 1 to 128 letters and digits."))
        code = issue("code", {"corpid": str(params["corpid"])})
        return token_ok({"code": code, "state": state})

    def _access_token(self, params, behaviour):
        absent = missing(params, ("app_key", "app_secret", "grant_type", "code"))
        if absent:
            return token_error("400", required_message(absent))
        if params["grant_type"] != "authorization_code":
            return token_error("400", _("grant_type must be “authorization_code”."))
        code = redeem("code", params["code"], CODE_SECONDS)
        if code is None:
            return token_error("401", _("The code is invalid or expired."))
        refused = credentials_problem(behaviour, str(params["app_key"]),
                                      str(params["app_secret"]))
        if refused:
            return token_error("401", refused)
        return token_ok(tokens(code["corpid"], str(params["app_key"])))

    def _refresh_token(self, params, behaviour):
        absent = missing(params, ("grant_type", "refresh_token"))
        if absent:
            return token_error("400", required_message(absent))
        if params["grant_type"] != "refresh_token":
            return token_error("400", _("grant_type must be “refresh_token”."))
        grant = redeem("refresh", params["refresh_token"], REFRESH_SECONDS)
        if grant is None:
            return token_error("401", _("The refresh_token is invalid or expired."))
        return token_ok(tokens(grant["corpid"], grant["app_key"]))

    # -- the todo receiver ----------------------------------------------------------------
    def read(self, request, operation, behaviour):
        if request.method != "POST":
            return self.method_not_allowed(operation)
        raw = read_body(request)
        data = parse_json_object(raw)
        if data is None:
            text = masked_text(raw)
            arrival = Arrival(operation, body=text, text=text[:100_000])
            arrival.rejection = failure("400", _("The body is not a JSON object."))
            return arrival
        data = clean(data)
        token = data.get("access_token") or request.GET.get("access_token")
        shown = masked(data)
        arrival = Arrival(operation, body=shown, text=as_text(shown), summary=short(
            data.get("flowid"), data.get("requestname"), data.get("receiver"),
            f"isremark={data['isremark']}" if "isremark" in data else ""))
        if redeem("access", token, TOKEN_SECONDS) is None:
            arrival.rejection = failure(
                "401", _("access_token is missing, invalid or expired."))
            return arrival
        problem = self.problem(data)
        if problem:
            arrival.rejection = failure("400", problem)
        return arrival

    def problem(self, data):
        isremark = str(data.get("isremark", ""))
        absent = missing(data, DELETE if isremark == "-1" else ITEM)
        if absent:
            return required_message(absent)
        if isremark not in ISREMARK:
            return _("isremark must be one of %(values)s.") % {"values": "0, 2, 4, 8, 10, -1"}
        for name in ("createdatetime", "receivedatetime"):
            if data.get(name) and bad_datetime(data[name]):
                return datetime_message(name)
        receivets = data.get("receivets")
        if receivets not in (None, "") and not str(receivets).isdigit():
            return _("receivets must be a number of milliseconds.")
        return ""

    def success(self, arrival):
        return Answer(200, {"message": {"errcode": "200", "errmsg": "success"},
                            "data": {"operResult": "1"}}, accepted=True)

    def refusal(self, arrival, message):
        return Answer(200, {"message": {"errcode": "200", "errmsg": "success"},
                            "data": {"operResult": "0", "message": str(message)}})


def tokens(corpid, app_key):
    grant = {"corpid": corpid, "app_key": app_key}
    return {"accessToken": issue("access", grant), "refreshToken": issue("refresh", grant),
            "expires_in": TOKEN_SECONDS}


def credentials_problem(behaviour, app_key, app_secret):
    if behaviour.username and not (constant_time_compare(app_key, behaviour.username)
                                   and constant_time_compare(app_secret, behaviour.password)):
        return _("app_key or app_secret is wrong.")
    return ""


def token_ok(fields):
    return Answer(200, {"errcode": "0", "errmsg": "success", **fields}, accepted=True)


def token_error(code, message):
    return Answer(200, {"errcode": code, "errmsg": str(message)})


def failure(code, message):
    return Answer(200, {"message": {"errcode": code, "errmsg": str(message)}, "data": None})
