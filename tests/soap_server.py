"""A real SOAP 1.1 service on 127.0.0.1 for the Landray tests: EKP's todo web service.

It serves the WSDL the console ships at `?wsdl` (with its own address), and for each POST
checks what an EKP server checks — `text/xml`, the `SOAPAction` header, a SOAP 1.1 envelope,
a known operation of the web service's namespace with one unqualified `arg0`, and the
`RequestSOAPHeader` credentials — then records the call and answers a document/literal
`<opResponse><return>` with the `returnState` the test chose. Wrong credentials or a malformed
call get a `soap:Client` fault; `mode` "server_fault" answers HTTP 500 with a `soap:Server`
fault, "html_503" a proxy's HTML error page.
"""
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NAMESPACE = "http://webservice.notify.sys.kmss.landray.com/"
HEADER_NS = "http://sys.webservice.client"
PATH = "/sys/webservice/sysNotifyTodoWebService"
OPERATIONS = ("sendTodo", "deleteTodo", "setTodoDone", "getTodo", "getTodoCount", "updateTodo")
WSDL = (Path(__file__).resolve().parent.parent / "pushconfig" / "transports" / "wsdl"
        / "sysNotifyTodoWebService.wsdl")
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


@dataclass
class Call:
    operation: str
    fields: dict            # arg0's children: name → text
    header: dict            # RequestSOAPHeader's children: "{ns}name" → text
    soap_action: str | None
    content_type: str
    body: bytes


@dataclass
class SoapServer:
    user: str = "ekp-ws"
    password: str = "s3cret-pw"
    return_state: int = 2
    message: str = ""
    mode: str = "ok"        # "ok", "server_fault" (HTTP 500 soap:Server), "html_503"
    calls: list = field(default_factory=list)
    refused: list = field(default_factory=list)  # faultstrings of the Client faults answered

    def __post_init__(self):
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path.split("?")[0] == PATH and self.path.lower().endswith("?wsdl"):
                    self.reply(200, service.wsdl(), "text/xml; charset=utf-8")
                else:
                    self.reply(404, b"not found", "text/plain")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path != PATH:
                    self.reply(404, b"<html><body>404</body></html>", "text/html")
                    return
                status, answer = service.handle(dict(self.headers), body)
                content_type = ("text/html; charset=utf-8" if answer.startswith(b"<html")
                                else "text/xml; charset=utf-8")
                self.reply(status, answer, content_type)

            def reply(self, status, body, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def operations(self):
        return [call.operation for call in self.calls]

    def wsdl(self):
        text = WSDL.read_text(encoding="utf-8")
        return text.replace("http://localhost" + PATH, self.url + PATH).encode("utf-8")

    # -- one call ------------------------------------------------------------------------
    def handle(self, headers, body):
        headers = {k.lower(): v for k, v in headers.items()}
        content_type = headers.get("content-type", "")
        if not content_type.startswith("text/xml"):
            return self.fault("Client", "SOAP 1.1 expects text/xml, got " + content_type)
        soap_action = headers.get("soapaction")
        if soap_action is None:
            return self.fault("Client", "missing SOAPAction header")
        if soap_action.strip('"') != "":
            return self.fault("Client", "unexpected SOAPAction " + soap_action)
        try:
            envelope = etree.fromstring(body, PARSER)
        except etree.XMLSyntaxError as exc:
            return self.fault("Client", f"malformed XML: {exc}")
        if envelope.tag != f"{{{SOAP_ENV}}}Envelope":
            return self.fault("VersionMismatch", "not a SOAP 1.1 envelope")
        payload = envelope.find(f"{{{SOAP_ENV}}}Body")
        if payload is None or len(payload) != 1:
            return self.fault("Client", "the Body must hold exactly one element")
        wrapper = payload[0]
        operation = etree.QName(wrapper).localname
        if etree.QName(wrapper).namespace != NAMESPACE or operation not in OPERATIONS:
            return self.fault("Client", f"unknown operation {wrapper.tag}")
        args = list(wrapper)
        if len(args) != 1 or args[0].tag != "arg0":
            return self.fault("Client", "expected one unqualified arg0, got "
                              + ", ".join(str(a.tag) for a in args))
        fields = {}
        for child in args[0]:
            if etree.QName(child).namespace is not None:
                return self.fault("Client", f"qualified field {child.tag}")
            fields[child.tag] = child.text or ""
        auth = envelope.find(f"{{{SOAP_ENV}}}Header/{{{HEADER_NS}}}RequestSOAPHeader")
        header = {} if auth is None else {child.tag: child.text or "" for child in auth}
        with self._lock:
            self.calls.append(Call(operation, fields, header, soap_action, content_type, body))
        user = header.get(f"{{{HEADER_NS}}}user")
        password = header.get(f"{{{HEADER_NS}}}password")
        if (user, password) != (self.user, self.password):
            return self.fault("Client", "authentication failed")
        if self.mode == "server_fault":
            return self.fault("Server", "java.lang.NullPointerException")
        if self.mode == "html_503":
            return 503, b"<html><body>503 Service Unavailable</body></html>"
        return 200, self.response(operation)

    def response(self, operation):
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
        payload = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
        wrapper = etree.SubElement(payload, f"{{{NAMESPACE}}}{operation}Response",
                                   nsmap={"ns2": NAMESPACE})
        result = etree.SubElement(wrapper, "return")
        if self.message:
            etree.SubElement(result, "message").text = self.message
        etree.SubElement(result, "returnState").text = str(self.return_state)
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")

    def fault(self, code, text):
        if code != "Server":
            with self._lock:
                self.refused.append(text)
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
        payload = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
        fault = etree.SubElement(payload, f"{{{SOAP_ENV}}}Fault")
        etree.SubElement(fault, "faultcode").text = f"soap:{code}"
        etree.SubElement(fault, "faultstring").text = text
        return 500, etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
