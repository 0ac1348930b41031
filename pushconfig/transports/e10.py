"""Weaver E10 open API: the unified todo centre's `receiveRequestInfo`, behind an OAuth2 token.

Known only from client code (PROTOCOLS.md, "Weaver E10"), so the shapes below are the ones
clients agree on. One call per item, every state through the same endpoint (`isremark` says
which), `receivets` as a number so that a late call never overwrites a newer state.

The token: `authorize` (GET, corpid + state) gives a code, `access_token` trades the code and
the app key/secret for an access token, a refresh token and `expires_in`. Tokens are cached per
config and process (keyed by the config's pk, renewed when the config is edited) and refreshed
`REFRESH_MARGIN` seconds before they expire; a per-config lock makes one thread fetch while the
others wait and reuse its token. An answer saying the token is invalid or expired drops the
cached token and the call is retried once with a fresh one.
"""
import re
import threading
import time
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from integration.secrets import mask as mask_secret
from integration.vocabulary import BusinessStatus, DataSet

from . import register
from .base import Delivery, Transport, TransportError, epoch_ms, oa_datetime

AUTHORIZE = "/papi/openapi/oauth2/authorize"
ACCESS_TOKEN = "/papi/openapi/oauth2/access_token"
REFRESH_TOKEN = "/papi/openapi/oauth2/refresh_token"
RECEIVE = "/papi/openapi/api/open_intunifytodo/server_engine/receiveRequestInfo"

# -- vendor vocabulary -----------------------------------------------------------------------
ISREMARK = {DataSet.TODO: "0", DataSet.DONE: "2", DataSet.OVER: "4", DataSet.DELETE: "-1"}
ISREMARK_CC = "8"  # the cc business status of the todo data set: a to-read item
VIEWTYPE = {True: "1", False: "0"}
# requestStatus has no public description; the todo centre shows it as the request's state.
REQUEST_STATUS = {DataSet.TODO: "审批中", DataSet.DONE: "审批中", DataSet.OVER: "归档",
                  DataSet.DELETE: "删除"}
# A receive answer succeeds when message.errcode is "200" and data.operResult is "1".
ERRCODE_OK = "200"
OPER_RESULT_OK = "1"
# Answers saying the token is invalid or expired (HTTP 401, errcode 401, or a message naming
# the token): drop it and retry once. Clients show no fixed code, hence the words.
TOKEN_ERRCODES = {"401"}
TOKEN_HINTS = ("token", "令牌")
# Refusals worth retrying later; every other one (unknown receiver, unregistered sysCode,
# IP not allowed) is permanent. errcodes 5xx are the target's own failures.
TRANSIENT_HINTS = ("timeout", "超时", "繁忙", "busy", "稍后")
TRANSIENT_ERRCODE_PREFIX = "5"

DEFAULT_EXPIRES_IN = 7200
REFRESH_MARGIN = 300  # seconds before expiry; at most half the token's life
# Besides the base keys: what the token calls send, masked in the log.
TOKEN_KEYS = {"code", "refresh_token", "refreshToken"}
_STATE = re.compile(r"[A-Za-z0-9]*")


def _clock():
    return time.monotonic()


@dataclass
class _Token:
    stamp: object  # the config's updated_at: an edited config starts afresh
    access: str
    refresh: str
    refresh_at: float
    expires_at: float


_tokens: dict[int, _Token] = {}
_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(key):
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def forget_tokens(config_pk=None):
    """Drop cached tokens (one config's, or all): the next call fetches a new one."""
    if config_pk is None:
        _tokens.clear()
    else:
        _tokens.pop(config_pk, None)


class _TokenRefused(Exception):
    def __init__(self, token, reason, http_status=None, response=""):
        super().__init__(reason)
        self.token, self.reason = token, reason
        self.http_status, self.response = http_status, response


class E10Params(serializers.Serializer):
    sysCode = serializers.CharField(
        max_length=64, label="sysCode",
        help_text=gettext_lazy("Must equal the identifier of the heterogeneous system "
                               "registered on the receiving E10."))
    corpId = serializers.CharField(
        max_length=128, label="corpId",
        help_text=gettext_lazy("The corpId of the registered enterprise, as shown in the "
                               "receiving E10's developer information."))
    state = serializers.CharField(
        required=False, allow_blank=True, default="", label="state",
        help_text=gettext_lazy("Optional value passed to the authorization call: letters "
                               "a-z, A-Z and digits 0-9 only, at most 128 bytes."))
    app_key = serializers.CharField(
        max_length=128, label="app_key",
        help_text=gettext_lazy("From a general-purpose application created in the receiving "
                               "E10's open platform (application management)."))
    app_secret = serializers.CharField(
        max_length=256, label="app_secret", style={"input_type": "password"},
        help_text=gettext_lazy("From the same application as app_key. Stored encrypted; "
                               "leave empty to keep the stored one."))

    def validate_state(self, value):
        if not _STATE.fullmatch(value):
            raise serializers.ValidationError(
                _("state may contain only the letters a-z, A-Z and the digits 0-9."))
        if len(value.encode("utf-8")) > 128:
            raise serializers.ValidationError(_("state may be at most 128 bytes long."))
        return value


@register
class E10Transport(Transport):
    key = "e10"
    label = gettext_lazy("E10")
    implementation = "WPushE10OpenApi"
    Params = E10Params
    secret_params = ("app_secret",)
    suite_params = ("sysCode", "corpId", "state", "app_key", "app_secret")

    # -- the item ----------------------------------------------------------------------------
    def body(self, item):
        isremark = ISREMARK.get(item.data_set, "0")
        if item.data_set == DataSet.TODO and item.business_status == BusinessStatus.CC:
            isremark = ISREMARK_CC
        viewed = item.viewed or item.data_set in (DataSet.DONE, DataSet.OVER)
        return {
            "syscode": self.params["sysCode"],
            "flowid": item.request_id,
            "requestname": item.title,
            "workflowcode": item.workflow_id,
            "workflowname": item.workflow_name,
            "nodename": item.node_name,
            "receivernodename": item.node_name,
            "pcurl": item.pc_url,
            "appurl": item.app_url,
            "creator": item.creator,
            "createdatetime": oa_datetime(item.created_at),
            "receiver": item.receiver,
            "receivedatetime": oa_datetime(item.occurred_at),
            "isremark": isremark,
            "viewtype": VIEWTYPE[bool(viewed)],
            "requestStatus": REQUEST_STATUS.get(item.data_set, ""),
            "receivets": epoch_ms(item.occurred_at),
        }

    def send_one(self, item):
        body = self.body(item)
        headers = {"Idempotency-Key": item.idempotency_key}
        try:
            return self._receive(body, self.token(), headers)
        except _TokenRefused as refused:
            self.drop_token(refused.token)
        try:
            return self._receive(body, self.token(), headers)
        except _TokenRefused as refused:
            # A token the target has just issued is refused: the application most likely
            # lacks the todo API; retrying cannot help.
            raise TransportError(
                _("E10 refused a token it had just issued: %(message)s")
                % {"message": refused.reason},
                permanent=True, http_status=refused.http_status, response=refused.response,
            ) from None

    def _receive(self, body, token, headers):
        sent = {**body, "access_token": token}
        try:
            response = self.http("POST", self.base_url + RECEIVE, json=sent, headers=headers)
        except TransportError as exc:
            if exc.http_status == 401:
                raise _TokenRefused(token, exc.response or exc.reason, 401, exc.response) from None
            raise
        data = self.json_of(response)
        text = response.text[:4000]
        message = data.get("message") if isinstance(data.get("message"), dict) else {}
        result = data.get("data") if isinstance(data.get("data"), dict) else {}
        errcode = str(message.get("errcode", data.get("errcode", "")))
        if errcode == ERRCODE_OK and str(result.get("operResult")) == OPER_RESULT_OK:
            return Delivery(True, http_status=response.status_code, request=sent, response=text)
        errmsg = str(message.get("errmsg") or data.get("errmsg") or "")
        if errcode != ERRCODE_OK:
            if errcode in TOKEN_ERRCODES or any(h in errmsg.lower() for h in TOKEN_HINTS):
                raise _TokenRefused(token, errmsg or text, response.status_code, text)
            reason = errmsg or text
            permanent = not (errcode.startswith(TRANSIENT_ERRCODE_PREFIX)
                             or _hinted(reason, TRANSIENT_HINTS))
        else:
            reason = str(result.get("message") or errmsg or _("operResult is not 1"))
            permanent = not _hinted(reason, TRANSIENT_HINTS)
        raise TransportError(_("E10 refused: %(message)s") % {"message": reason},
                             permanent=permanent, http_status=response.status_code,
                             response=text)

    # -- the token ---------------------------------------------------------------------------
    def token(self):
        """A valid access token: the cached one, a refreshed one, or a new one."""
        key = self.config.pk
        if key is None:  # an unsaved config (connection test from a form): nothing to cache
            return self._fetch()[0]
        with _lock_for(key):
            now = _clock()
            cached = _tokens.get(key)
            if cached and cached.stamp != self.config.updated_at:
                cached = None
            if cached and now < cached.refresh_at:
                return cached.access
            if cached and cached.refresh:
                try:
                    return self._store(key, self._refresh(cached.refresh), now)
                except TransportError as exc:
                    if not exc.permanent and now < cached.expires_at:
                        return cached.access  # the target is busy; the token still works
            return self._store(key, self._fetch(), now)

    def drop_token(self, used):
        key = self.config.pk
        with _lock_for(key):
            cached = _tokens.get(key)
            if cached and cached.access == used:  # another thread may have renewed it already
                del _tokens[key]

    def _store(self, key, fetched, now):
        access, refresh, expires_in = fetched
        _tokens[key] = _Token(
            stamp=self.config.updated_at, access=access, refresh=refresh,
            refresh_at=now + max(expires_in - REFRESH_MARGIN, expires_in / 2),
            expires_at=now + expires_in,
        )
        return access

    def _fetch(self):
        """authorize → code → access_token. Returns (access, refresh, expires_in)."""
        query = {"corpid": self.params["corpId"], "response_type": "code",
                 "state": self.params.get("state") or ""}
        try:
            response = self.http("GET", self.base_url + AUTHORIZE, params=query)
        finally:
            self.last_request = {"url": AUTHORIZE, **query}  # a GET: http() saw no body
        data = self.json_of(response)
        code = data.get("code")
        if not isinstance(code, str) or not code:
            raise TransportError(
                _("E10 refused the authorization: %(message)s")
                % {"message": _vendor_message(data, response.text)},
                permanent=True, http_status=response.status_code, response=response.text[:4000])
        sent = {"app_key": self.params["app_key"], "app_secret": self.params["app_secret"],
                "grant_type": "authorization_code", "code": code}
        response = self.http("POST", self.base_url + ACCESS_TOKEN, json=sent)
        return self._token_answer(response, _("E10 refused the app key or secret: %(message)s"))

    def _refresh(self, refresh_token):
        sent = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        response = self.http("POST", self.base_url + REFRESH_TOKEN, json=sent)
        return self._token_answer(response, _("E10 refused the refresh token: %(message)s"))

    def _token_answer(self, response, refusal):
        """Clients disagree on the token call's success code: the documented fields are the
        success, anything else is reported verbatim."""
        data = self.json_of(response)
        access = data.get("accessToken")
        if not isinstance(access, str) or not access:
            raise TransportError(refusal % {"message": _vendor_message(data, response.text)},
                                 permanent=True, http_status=response.status_code,
                                 response=response.text[:4000])
        try:
            expires_in = int(data.get("expires_in") or DEFAULT_EXPIRES_IN)
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        return access, str(data.get("refreshToken") or ""), max(expires_in, 1)

    def mask(self, data):
        masked = super().mask(data)
        return {k: (mask_secret(str(v)) if k in TOKEN_KEYS and v else v)
                for k, v in masked.items()}

    def test_connection(self):
        """Fetches a new token: shows whether the address, corpId and app key/secret work."""

        def call():
            access, _refresh, expires_in = self._fetch()
            if self.config.pk is not None:
                with _lock_for(self.config.pk):
                    self._store(self.config.pk, (access, _refresh, expires_in), _clock())
            return Delivery(True, _("E10 issued a token valid for %(seconds)d s.")
                            % {"seconds": expires_in},
                            request={"url": ACCESS_TOKEN, "app_key": self.params["app_key"]})

        return self.deliver(call)


def _hinted(text, hints):
    lowered = text.lower()
    return any(hint in lowered for hint in hints)


def _vendor_message(data, text):
    """The target's own words: errmsg / msg / message, else the raw answer."""
    for key in ("errmsg", "msg", "message"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("errmsg") or value.get("msg")
        if value:
            return str(value)
    return text[:500]
