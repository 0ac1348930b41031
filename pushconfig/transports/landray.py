"""Landray EKP todo web service (蓝凌 sysNotifyTodoWebService), SOAP 1.1 document/literal.

A todo becomes `sendTodo`, a done or finished item `setTodoDone` and a deleted one `deleteTodo`,
both with `optType` 2 and the person in `targets`, so that only that person's todo changes.
Each (request, receiver, identity) is its own EKP todo: `modelId` is built from the three,
which lets done and delete address one person's todo and not the whole request's.

The WSDL ships with the package (loading one is slow and the target's copy may be unreachable
or behind a login); its address is replaced by
`{server_url}/sys/webservice/sysNotifyTodoWebService`.
A zeep client is cached per config and process and speaks through the config's HTTP session.
Credentials travel in the `RequestSOAPHeader` SOAP header that EKP's interface access policy
(接口访问策略) checks.

Only `returnState` 2 is success. SOAP 1.1 sends every fault with HTTP 500, so a fault is
classified by its code: `Client` (bad credentials, malformed call) cannot be helped by retrying,
`Server` can.
"""
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

import requests
import zeep
import zeep.exceptions
import zeep.wsdl
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from lxml import etree
from rest_framework import serializers

from integration.vocabulary import BusinessStatus, DataSet

from . import register
from .base import Delivery, Transport, TransportError, oa_datetime, short_error, timeout

NAMESPACE = "http://webservice.notify.sys.kmss.landray.com/"
BINDING = f"{{{NAMESPACE}}}ISysNotifyTodoWebServiceServiceSoapBinding"
ENDPOINT = "/sys/webservice/sysNotifyTodoWebService"
WSDL = Path(__file__).resolve().parent / "wsdl" / "sysNotifyTodoWebService.wsdl"
HEADER_NS = "http://sys.webservice.client"

# Every item's `modelName`: the "module" EKP files our todos under. Constant, so that done and
# delete find what sendTodo created, whatever the request's workflow.
MODEL_NAME = "oa.request"

SEND, DONE, DELETE, COUNT = "sendTodo", "setTodoDone", "deleteTodo", "getTodoCount"
OPERATION = {DataSet.TODO: SEND, DataSet.DONE: DONE, DataSet.OVER: DONE, DataSet.DELETE: DELETE}
TYPE_APPROVAL, TYPE_TO_READ = 1, 2    # sendTodo `type`: 待审 / 待阅 (carbon copies)
OPT_WHOLE_TODO, OPT_TARGETS = 1, 2    # remove `optType`: the whole todo / only `targets`
LEVEL_NORMAL = 3                      # 1 urgent, 2 high, 3 normal
RETURN_NOT_DONE, RETURN_FAILED, RETURN_SUCCESS = 0, 1, 2

# The person keys EKP resolves `targets` and `docCreator` by, labelled as in the seed's table
# ("LoginName — 个人登录名"). That table pairs options and descriptions one row off; these follow
# the meaning of each key's own name.
EKP_USER_KEYS = [
    ("Id", format_lazy("Id — {}", gettext_lazy("unique id"))),                 # 唯一标识
    ("PersonNo", format_lazy("PersonNo — {}", gettext_lazy("personal number"))),  # 个人编号
    ("LoginName", format_lazy("LoginName — {}", gettext_lazy("personal login name"))),  # 个人登录名
    ("Keyword", format_lazy("Keyword — {}", gettext_lazy("keyword"))),          # 关键字
    ("LdapDN", format_lazy("LdapDN — {}", gettext_lazy("DN in LDAP, when integrated with LDAP"))),
]

# A refusal (returnState 1) whose message says the target is busy is worth retrying; every
# other one (unknown person, bad appName, malformed JSON) is permanent.
TRANSIENT_HINTS = ("timeout", "timed out", "超时", "繁忙", "busy", "稍后", "try again")
ANSWER_LIMIT = 4000


class LandrayCredentials(serializers.Serializer):
    appName = serializers.CharField(
        max_length=100, label="appName",
        help_text=gettext_lazy("Our system's name as Landray registered it (待办来源). Must equal "
                               "the identifier Landray assigned, and stay the same: later calls "
                               "find earlier todos by it."))
    username = serializers.CharField(
        max_length=100, label="username",
        help_text=gettext_lazy("The user of the web service access policy Landray assigned."))
    password = serializers.CharField(
        max_length=200, label="password", trim_whitespace=False,
        style={"input_type": "password"},
        help_text=gettext_lazy("The password of that user, as Landray assigned it. Stored "
                               "encrypted."))


class LandrayParams(LandrayCredentials):
    oaAddress = serializers.URLField(
        max_length=500, label="oaAddress",
        help_text=gettext_lazy("This system's own address (not Landray's): relative links of a "
                               "todo are completed with it."))
    ekpUserKey = serializers.ChoiceField(
        choices=EKP_USER_KEYS, label="ekpUserKey",
        error_messages={"invalid_choice": gettext_lazy(
            "“{input}” is not an ekpUserKey; use Id, PersonNo, LoginName, Keyword or LdapDN.")},
        help_text=gettext_lazy("Which field of Landray's organisation the creator and receivers "
                               "are sent as. The person mapping must produce that field."))


class _SessionTransport(zeep.Transport):
    """zeep's transport over a session we own: zeep's constructor would otherwise replace the
    session's User-Agent and mount a file:// adapter on it."""

    def __init__(self, session, operation_timeout):
        super().__init__(operation_timeout=operation_timeout)
        self.session.close()
        self.session = session
        self._close_session = False


_document = None
_clients: dict[int, tuple] = {}
_lock = threading.Lock()


def wsdl_document():
    """The shipped WSDL, parsed once per process and shared by every client."""
    global _document
    with _lock:
        if _document is None:
            _document = zeep.wsdl.Document(str(WSDL), zeep.Transport(),
                                           settings=zeep.Settings(strict=True))
        return _document


def soap_header(username, password):
    header = etree.Element(etree.QName(HEADER_NS, "RequestSOAPHeader"), nsmap={"tns": HEADER_NS})
    etree.SubElement(header, etree.QName(HEADER_NS, "user")).text = username
    etree.SubElement(header, etree.QName(HEADER_NS, "password")).text = password
    return header


def fault_is_permanent(code):
    """`soap:Client` (or `Client.Authentication` …) says the call itself is wrong; `Server` is
    the target's trouble. A fault without a code is judged by the HTTP status instead (None)."""
    local = (code or "").rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()
    if local.startswith("client") or local in ("versionmismatch", "mustunderstand"):
        return True
    if local.startswith("server"):
        return False
    return None


def answer_text(response):
    """The raw answer for the log. XML without a declared charset is UTF-8, not the ISO-8859-1
    requests assumes for text/*."""
    declared = "charset=" in response.headers.get("Content-Type", "").lower()
    encoding = (response.encoding if declared else None) or "utf-8"
    return response.content[:ANSWER_LIMIT * 4].decode(encoding, errors="replace")[:ANSWER_LIMIT]


def status_is_permanent(status):
    return 400 <= status < 500 and status not in (408, 429)


class LandraySoap(Transport):
    """The SOAP machinery shared by the Landray push types: client, header, call, answer."""

    def endpoint(self):
        return self.base_url + ENDPOINT

    def client_and_service(self):
        """A client per config and process: renewed when the config is edited or the session
        changes (a connection test runs on its own session)."""
        key = self.config.pk
        stamp = (self.config.updated_at, self.endpoint())
        if key is not None:
            cached = _clients.get(key)
            if cached and cached[0] == stamp and cached[1] is self.session:
                return cached[2], cached[3]
        client = zeep.Client(wsdl_document(), transport=_SessionTransport(self.session, timeout()),
                             settings=zeep.Settings(strict=True, forbid_dtd=True))
        service = client.create_service(BINDING, self.endpoint())
        if key is not None:
            _clients[key] = (stamp, self.session, client, service)
        return client, service

    def call(self, operation, arg0):
        """One SOAP call; returns the Delivery of a `returnState` 2, raises TransportError."""
        result, status, text = self.exchange(operation, arg0)
        return self.judge(result, status, text)

    def exchange(self, operation, arg0):
        """Send one operation; returns (`return` of the answer, HTTP status, raw answer). Faults,
        HTTP errors and answers that are not SOAP raise TransportError."""
        self.last_request = {"operation": operation, "user": self.params["username"],
                             "password": self.params["password"], "arg0": arg0}
        client, service = self.client_and_service()
        header = soap_header(self.params["username"], self.params["password"])
        url = self.endpoint()
        try:
            with client.settings(raw_response=True):
                response = service[operation](arg0=arg0, _soapheaders=[header])
        except requests.Timeout:
            raise TransportError(_("Timed out waiting for %(url)s.") % {"url": url}) from None
        except requests.ConnectionError as exc:
            raise TransportError(_("Cannot connect to %(url)s: %(error)s")
                                 % {"url": url, "error": short_error(exc)}) from None
        except requests.RequestException as exc:
            raise TransportError(short_error(exc), permanent=True) from None
        except (zeep.exceptions.ValidationError, TypeError, ValueError) as exc:
            # Our arguments do not fit the WSDL: a bug or bad data, not worth retrying.
            raise TransportError(_("The call does not fit the WSDL: %(error)s")
                                 % {"error": short_error(exc)}, permanent=True) from None
        return self.parse(client, service, operation, response)

    def parse(self, client, service, operation, response):
        status, text = response.status_code, answer_text(response)
        binding = service._binding
        try:
            result = binding.process_reply(client, binding.get(operation), response)
        except zeep.exceptions.Fault as fault:
            permanent = fault_is_permanent(fault.code)
            if permanent is None and status >= 400:
                # XML but no SOAP fault (a server's error page): the status says what it is.
                raise TransportError(
                    _("The target answered HTTP %(status)d.") % {"status": status},
                    permanent=status_is_permanent(status), http_status=status,
                    response=text) from None
            raise TransportError(
                _("The target answered a SOAP fault (%(code)s): %(message)s")
                % {"code": fault.code or "-", "message": fault.message or "-"},
                permanent=permanent, http_status=status, response=text) from None
        except zeep.exceptions.Error as exc:
            if status >= 400:
                raise TransportError(
                    _("The target answered HTTP %(status)d.") % {"status": status},
                    permanent=status_is_permanent(status), http_status=status,
                    response=text) from None
            raise TransportError(_("The target's answer is not a SOAP answer: %(error)s")
                                 % {"error": short_error(exc)}, http_status=status,
                                 response=text) from None
        return result, status, text

    def judge(self, result, status, text):
        state = getattr(result, "returnState", None)
        message = str(getattr(result, "message", None) or "")
        if state == RETURN_SUCCESS:
            return Delivery(True, message, http_status=status, request=self.last_request,
                            response=text)
        if state == RETURN_FAILED:
            permanent = not any(hint in message.lower() for hint in TRANSIENT_HINTS)
            raise TransportError(
                _("The target refused: %(message)s")
                % {"message": message or _("returnState is 1")},
                permanent=permanent, http_status=status, response=text)
        if state == RETURN_NOT_DONE:
            raise TransportError(
                _("The target did not do it (returnState 0): %(message)s")
                % {"message": message or "-"}, http_status=status, response=text)
        raise TransportError(_("The target's answer holds no known returnState (%(state)s).")
                             % {"state": state}, http_status=status, response=text)

    def model_id(self, item):
        """One EKP todo per person and part-time identity of a request. Built from our login
        id, not the mapped one, so that editing the person mapping between a todo and its done
        still finds the todo."""
        return f"{item.request_id}:{item.receiver_login}:{item.identity}"

    def test_connection(self):
        """getTodoCount changes nothing and shows whether the address, the credentials and the
        interface access policy let us in. Any answer with a returnState passes: the count is
        asked for the service user, who need not be a person in EKP."""
        arg0 = {"target": json.dumps({"LoginName": self.params["username"]}), "types": "[1,2]"}

        def call():
            result, status, text = self.exchange(COUNT, arg0)
            state = getattr(result, "returnState", None)
            message = str(getattr(result, "message", None) or "")
            if state is None:
                raise TransportError(_("The target's answer holds no returnState."),
                                     http_status=status, response=text)
            return Delivery(True, _("The service answered returnState %(state)s: %(message)s")
                            % {"state": state, "message": message or "-"},
                            http_status=status, request=self.last_request, response=text)

        return self.deliver(call)


@register
class LandrayTransport(LandraySoap):
    key = "landray_soap"
    label = gettext_lazy("Landray (SOAP)")
    implementation = "WPushLanLingToSOAP"
    Params = LandrayParams
    secret_params = ("password",)
    suite_params = ("appName", "username", "password", "oaAddress", "ekpUserKey")

    def person(self, value):
        return json.dumps({self.params["ekpUserKey"]: value}, ensure_ascii=False)

    def link(self, url, required=True):
        """Absolute links pass; a relative one is completed with oaAddress (our address).
        `link` is required by EKP: without one, the todo opens our address."""
        base = self.params["oaAddress"].rstrip("/")
        if not url:
            return base if required else None
        if urlsplit(url).scheme:
            return url
        return f"{base}/{url.lstrip('/')}"

    def arg0(self, item):
        common = {"appName": self.params["appName"], "modelName": MODEL_NAME,
                  "modelId": self.model_id(item), "key": item.request_id,
                  "param1": item.workflow_id, "targets": self.person(item.receiver)}
        if item.data_set == DataSet.TODO:
            to_read = item.business_status == BusinessStatus.CC
            return SEND, {
                **common,
                "subject": item.title,
                "link": self.link(item.pc_url),
                "mobileLink": self.link(item.app_url, required=False),
                "type": TYPE_TO_READ if to_read else TYPE_APPROVAL,
                "createTime": oa_datetime(item.created_at),
                "docCreator": self.person(item.creator) if item.creator else None,
                "level": LEVEL_NORMAL,
            }
        return OPERATION[item.data_set], {**common, "optType": OPT_TARGETS}

    def send_one(self, item):
        operation, arg0 = self.arg0(item)
        return self.call(operation, {k: v for k, v in arg0.items() if v is not None})
