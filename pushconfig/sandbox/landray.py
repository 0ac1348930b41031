"""The sandbox as Landray EKP's todo web service (sysNotifyTodoWebService), SOAP 1.1
document/literal wrapped: POST /sandbox/landray/sys/webservice/sysNotifyTodoWebService, and the
WSDL the console ships at `?wsdl` (its address replaced by the sandbox's).

A call that is not a SOAP call of this service (not text/xml, malformed XML, not a SOAP 1.1
envelope, an unknown operation, anything but one unqualified `arg0`) gets a `soap:Client`
fault with HTTP 500, as SOAP 1.1 sends faults; so do wrong credentials in the
`RequestSOAPHeader`, when the behaviour names an expected user. Business checks (the context's
required fields, `type`, `optType`, `createTime`, JSON in `targets`) answer
`NotifyTodoAppResult` `returnState` 1 with the reason, success is `returnState` 2. The sandbox
keeps no todo state: getTodo answers an empty list and getTodoCount 0.
"""
import json
import re
from pathlib import Path

from django.http import Http404, HttpResponse
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from lxml import etree

from integration.secrets import mask

from ..models import SandboxProtocol
from .base import (Answer, Arrival, Protocol, as_text, bad_datetime, clean, datetime_message,
                   missing, read_body, required_message, short)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NAMESPACE = "http://webservice.notify.sys.kmss.landray.com/"
HEADER_NS = "http://sys.webservice.client"
WSDL = (Path(__file__).resolve().parent.parent / "transports" / "wsdl"
        / "sysNotifyTodoWebService.wsdl")
WSDL_ADDRESS = "http://localhost/sys/webservice/sysNotifyTodoWebService"
# No entities, no DTDs, no network: the body comes from anyone who can reach the console.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                         huge_tree=False, remove_blank_text=True)
SEND, DELETE, DONE = "sendTodo", "deleteTodo", "setTodoDone"
GET, COUNT, UPDATE = "getTodo", "getTodoCount", "updateTodo"
OPERATIONS = (SEND, DELETE, DONE, GET, COUNT, UPDATE)
SEND_REQUIRED = ("modelName", "modelId", "subject", "link", "type", "targets", "createTime")
REMOVE_REQUIRED = ("modelName", "modelId", "optType")
PERSON_KEYS = {"Id", "PersonNo", "LoginName", "Keyword", "LdapDN", "DeptNo", "PostNo", "GroupNo"}
RETURN_FAILED, RETURN_SUCCESS = 1, 2
# A password element in a body that could not be parsed: masked before it is stored.
PASSWORD = re.compile(r"(<(?:[\w.-]+:)?password\b[^>]*>)(.*?)(</(?:[\w.-]+:)?password>)", re.S)


class Fault(Exception):
    def __init__(self, code, message, envelope=None):
        super().__init__(message)
        self.code, self.message, self.envelope = code, message, envelope


class Landray(Protocol):
    key = SandboxProtocol.LANDRAY
    default_refusal = gettext_lazy("The target person does not exist.")

    def read(self, request, operation, behaviour):
        if request.method != "POST":
            return self.method_not_allowed("", "GET, POST")
        raw = read_body(request)
        try:
            operation, fields, header, envelope = self.parse(request, raw)
        except Fault as fault:
            text = (self.masked_xml(fault.envelope) if fault.envelope is not None
                    else mask_passwords(clean(raw.decode("utf-8", "replace")))[:100_000])
            return Arrival("", body=text, text=text, reply=self.fault(fault))
        fields = clean(fields)
        password = header.get("password")
        shown_header = {**header, "password": mask(password)} if password else header
        arrival = Arrival(operation, body={"operation": operation, "header": shown_header,
                                           "arg0": fields},
                          text=self.masked_xml(envelope) or as_text(fields),
                          summary=short(fields.get("modelId"), fields.get("subject"),
                                        fields.get("targets")))
        refused = self.credentials_problem(header, behaviour)
        if refused:
            arrival.rejection = self.fault(Fault("Client", refused))
            return arrival
        problem = self.problem(operation, fields)
        if problem:
            arrival.rejection = self.refusal(arrival, problem)
        return arrival

    def parse(self, request, raw):
        if not (request.content_type or "").startswith("text/xml"):
            raise Fault("Client", _("SOAP 1.1 expects text/xml."))
        try:
            envelope = etree.fromstring(raw, PARSER)
        except etree.XMLSyntaxError as exc:
            raise Fault("Client", _("Malformed XML: %(error)s") % {"error": str(exc)[:200]}) \
                from None
        try:
            return self.parse_envelope(envelope)
        except Fault as fault:
            fault.envelope = envelope
            raise

    def parse_envelope(self, envelope):
        if envelope.getroottree().docinfo.doctype:
            raise Fault("Client", _("A SOAP message may not hold a document type declaration."))
        if envelope.tag != f"{{{SOAP_ENV}}}Envelope":
            raise Fault("VersionMismatch", _("Not a SOAP 1.1 envelope."))
        payload = envelope.find(f"{{{SOAP_ENV}}}Body")
        if payload is None or len(payload) != 1:
            raise Fault("Client", _("The SOAP Body must hold exactly one element."))
        wrapper = payload[0]
        if not isinstance(wrapper.tag, str):  # a comment, an entity, a processing instruction
            raise Fault("Client", _("The SOAP Body must hold exactly one element."))
        name = etree.QName(wrapper)
        if name.namespace != NAMESPACE or name.localname not in OPERATIONS:
            raise Fault("Client", _("Unknown operation %(operation)s.")
                        % {"operation": str(wrapper.tag)[:200]})
        args = list(wrapper)
        if len(args) != 1 or args[0].tag != "arg0":
            raise Fault("Client", _("The operation takes one unqualified arg0."))
        fields = {}
        for child in args[0]:
            if not isinstance(child.tag, str) or etree.QName(child).namespace is not None:
                raise Fault("Client", _("The fields of arg0 are unqualified."))
            fields[child.tag] = child.text or ""
        auth = envelope.find(f"{{{SOAP_ENV}}}Header/{{{HEADER_NS}}}RequestSOAPHeader")
        header = {} if auth is None else {
            etree.QName(child).localname: child.text or "" for child in auth
            if isinstance(child.tag, str)}
        return name.localname, fields, header, envelope

    def masked_xml(self, envelope):
        for element in envelope.iterfind(
                f"{{{SOAP_ENV}}}Header/{{{HEADER_NS}}}RequestSOAPHeader/{{{HEADER_NS}}}password"):
            element.text = mask(element.text or "")
        return mask_passwords(clean(etree.tostring(envelope, encoding="unicode")))[:100_000]

    def credentials_problem(self, header, behaviour):
        if not behaviour.username:
            return ""
        user, password = header.get("user") or "", header.get("password") or ""
        if not (constant_time_compare(user, behaviour.username)
                and constant_time_compare(password, behaviour.password or "")):
            return _("Authentication failed: wrong user or password in RequestSOAPHeader.")
        return ""

    def problem(self, operation, fields):
        if operation == SEND:
            absent = missing(fields, SEND_REQUIRED)
            if absent:
                return required_message(absent)
            if fields["type"] not in ("1", "2"):
                return _("type must be 1 (approval) or 2 (to read).")
            if bad_datetime(fields["createTime"]):
                return datetime_message("createTime")
            if fields.get("level") and fields["level"] not in ("1", "2", "3"):
                return _("level must be 1, 2 or 3.")
            return (persons_problem("targets", fields["targets"])
                    or (fields.get("docCreator") and persons_problem("docCreator",
                                                                    fields["docCreator"]))
                    or json_problem(fields, "extendContent", list)
                    or json_problem(fields, "others", dict) or "")
        if operation in (DELETE, DONE):
            absent = missing(fields, REMOVE_REQUIRED)
            if absent:
                return required_message(absent)
            if fields["optType"] not in ("1", "2"):
                return _("optType must be 1 (the whole todo) or 2 (only the targets).")
            if fields["optType"] == "2":
                if not fields.get("targets"):
                    return _("targets is required when optType is 2.")
                return persons_problem("targets", fields["targets"])
        return ""

    def result(self, arrival, state, message=""):
        operation = arrival.operation
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
        payload = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
        wrapper = etree.SubElement(payload, f"{{{NAMESPACE}}}{operation}Response",
                                   nsmap={"ns2": NAMESPACE})
        result = etree.SubElement(wrapper, "return")
        if message:
            etree.SubElement(result, "message").text = message
        etree.SubElement(result, "returnState").text = str(state)
        return Answer(200, etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"),
                      "text/xml", accepted=state == RETURN_SUCCESS)

    def success(self, arrival):
        message = {GET: "[]", COUNT: "0"}.get(arrival.operation, "")
        return self.result(arrival, RETURN_SUCCESS, message)

    def refusal(self, arrival, message):
        return self.result(arrival, RETURN_FAILED, str(message))

    def fault(self, fault):
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
        payload = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
        element = etree.SubElement(payload, f"{{{SOAP_ENV}}}Fault")
        etree.SubElement(element, "faultcode").text = f"soap:{fault.code}"
        etree.SubElement(element, "faultstring").text = str(fault.message)
        return Answer(500, etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"),
                      "text/xml")


def mask_passwords(text):
    return PASSWORD.sub(lambda m: m[1] + mask(m[2]) + m[3], text)


def persons_problem(name, value):
    """`{"LoginName": "zhangsan"}` or a list of such objects, keyed by EKP's person keys."""
    try:
        data = json.loads(value)
    except ValueError:
        return _("%(field)s is not JSON.") % {"field": name}
    entries = data if isinstance(data, list) else [data]
    if not entries or not all(isinstance(e, dict) and e and set(e) <= PERSON_KEYS
                              for e in entries):
        return _("%(field)s must name persons by %(keys)s.") % {
            "field": name, "keys": ", ".join(sorted(PERSON_KEYS))}
    return ""


def json_problem(fields, name, kind):
    if not fields.get(name):
        return ""
    try:
        data = json.loads(fields[name])
    except ValueError:
        data = None
    if not isinstance(data, kind):
        return _("%(field)s is not a JSON %(kind)s.") % {
            "field": name, "kind": _("array") if kind is list else _("object")}
    return ""


def wsdl_response(request):
    """The shipped WSDL with the sandbox's own address."""
    if not WSDL.exists():
        raise Http404(_("The Landray WSDL is not installed."))
    address = request.build_absolute_uri(request.path)
    text = WSDL.read_text(encoding="utf-8").replace(WSDL_ADDRESS, address)
    return HttpResponse(text.encode("utf-8"), content_type="text/xml; charset=utf-8")
