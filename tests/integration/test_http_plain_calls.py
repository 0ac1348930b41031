"""The console's HTTP session prepares plain calls itself: a real server must see byte for
byte what plain requests sends, and the caller get the same answer — redirects, cookies,
compressed and encoded bodies, TLS, and the same exceptions."""
import gzip
import http.server
import json
import math
import ssl
import subprocess
import threading
import time

import pytest
import requests

from integration.http import ENVIRONMENT, Session


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []
    ports = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, list(self.headers.items()), body))
        self.ports.append(self.client_address[1])
        path = self.path.split("?")[0]
        status, headers, answer = 200, [("Content-Type", "application/json")], b'{"ok": 1}'
        if path.startswith("/redirect"):
            status, headers, answer = int(path[-3:]), [("Location", "/landed")], b""
        elif path == "/cookie":
            headers.append(("Set-Cookie", "JSESSIONID=abc123; Path=/"))
        elif path == "/gzip":
            headers.append(("Content-Encoding", "gzip"))
            answer = gzip.compress('{"中文": "待办"}'.encode())
        elif path == "/gbk":
            headers = [("Content-Type", "text/plain; charset=gbk")]
            answer = "待办已送达".encode("gbk")
        elif path == "/slow":
            time.sleep(0.5)
        elif path == "/busy":
            status, headers = 503, [("Retry-After", "7")]
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(answer)
            except BrokenPipeError:  # /slow: the caller gave up waiting, as it should
                pass

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def clean_environment(monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _serve(context=None):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    if context:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def http_server():
    server = _serve()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(http_server, clean_environment):
    _Recorder.seen = []
    return http_server


def _outcome(session, server, method, path, **kwargs):
    """What the server saw and what the caller got, in a comparable form."""
    _Recorder.seen.clear()
    try:
        response = session.request(method, server + path, timeout=5, **kwargs)
    except Exception as exc:  # the same exception class and message, or the test fails
        return ("raised", type(exc), str(exc).replace(server, "SERVER"), _Recorder.seen[:])
    headers = {k: v for k, v in response.headers.items() if k != "Date"}  # the clock moves
    answer = (response.status_code, headers, response.content, response.text,
              response.encoding, response.url, [r.status_code for r in response.history],
              [r.url for r in response.history], response.cookies.get_dict(),
              session.cookies.get_dict(), response.request.method, response.request.url,
              dict(response.request.headers), response.request.body, response.reason,
              response.is_redirect, getattr(response.next, "url", None))
    if response.headers.get("Content-Type") == "application/json" and response.content:
        answer += (response.json(),)
    return answer, _Recorder.seen[:]


CALLS = [
    ("POST", "/rest/ofs/ReceiveRequestInfoByJson",
     {"json": {"syscode": "OA", "flowid": "1", "requestname": "请假申请"},
      "headers": {"Idempotency-Key": "7:42"}}),
    ("POST", "/api/todo", {"data": json.dumps({"待办": 1}, ensure_ascii=False).encode(),
                           "headers": {"Content-Type": "application/json; charset=utf-8"}}),
    ("POST", "/api/todo", {"json": {"a": 1}, "headers": {"Content-Type": "text/x-own"}}),
    ("POST", "/api/todo", {"json": {"a": 1}, "data": b"wins"}),
    ("POST", "/api/todo", {"json": [1, 2], "data": b""}),
    ("POST", "/api/todo", {}),
    ("POST", "/api/todo", {"headers": {"User-Agent": None, "Accept": "application/json"}}),
    ("POST", "/api/todo", {"headers": {"content-length": "0"}}),
    ("POST", "/api/todo", {"headers": {b"X-Bytes": b"1"}}),
    ("PUT", "/api/todo/1", {"data": b"<x/>", "headers": {"Content-Type": "text/xml"}}),
    ("PATCH", "/api/todo/1", {"json": {"viewed": True}}),
    ("DELETE", "/api/todo/1", {}),
    ("get", "/api/todo?x=1&y=中", {}),
    ("GET", "", {}),
    ("HEAD", "/api/todo", {}),
    ("GET", "/api/待办 事项", {}),
    ("POST", "/gzip", {"json": {}}),
    ("GET", "/gbk", {}),
    ("POST", "/busy", {"json": {}}),
    ("POST", "/redirect302", {"json": {"a": 1}}),
    ("POST", "/redirect307", {"data": b"kept"}),
    ("POST", "/redirect303", {"json": {}, "allow_redirects": False}),
    ("GET", "/redirect301", {}),
    ("POST", "/cookie", {"json": {}}),
    # What requests refuses, the same way.
    ("POST", "/api/todo", {"json": {"x": math.nan}}),
    ("POST", "/api/todo", {"headers": {"X-Bad": "a\r\nInjected: 1"}}),
    ("POST", "/api/todo", {"headers": {"X-Number": 3}}),
    ("POST", "/api/todo", {"headers": {" X-Space": "1"}}),
]


@pytest.mark.parametrize("method,path,kwargs", CALLS)
def test_a_call_is_sent_and_answered_exactly_as_requests_does(server, method, path, kwargs):
    ours = _outcome(Session(), server, method, path, **kwargs)
    theirs = _outcome(requests.Session(), server, method, path, **kwargs)
    assert ours == theirs


def test_plain_calls_skip_requests_preparation_and_others_take_it(server, monkeypatch):
    prepared = []
    real = requests.Session.prepare_request
    monkeypatch.setattr(requests.Session, "prepare_request",
                        lambda self, request: prepared.append(request.url) or real(self, request))
    session = Session()
    for n in range(3):
        session.post(server + "/api/todo", json={"n": n}, headers={"Idempotency-Key": str(n)})
        session.post(server + "/api/todo", data=b"raw")
    assert prepared == []
    session.post(server + "/api/todo", data={"form": "1"})  # a form: requests encodes it
    session.get(server + "/api/todo", params={"q": "1"})
    session.get(server + "/api/todo", auth=("user", "pw"))
    assert len(prepared) == 3
    session.post(server + "/cookie", json={})  # a cookie now in the jar: requests sends it
    prepared.clear()
    session.post(server + "/api/todo", json={})
    assert prepared == [server + "/api/todo"]
    assert ("Cookie", "JSESSIONID=abc123") in _Recorder.seen[-1][2]


def test_a_session_with_hooks_or_its_own_adapter_is_served_by_requests(server):
    answered = []
    session = Session()
    session.hooks["response"].append(lambda response, **kw: answered.append(response.url))
    session.post(server + "/api/todo", json={})
    assert answered == [server + "/api/todo"]

    class Marking(requests.adapters.HTTPAdapter):
        def add_headers(self, request, **kwargs):
            request.headers["X-Adapter"] = "own"

    session = Session()
    session.mount("http://", Marking())
    session.post(server + "/api/todo", json={})
    assert ("X-Adapter", "own") in _Recorder.seen[-1][2]


def test_credentials_in_the_url_or_a_netrc_file_are_sent_as_requests_sends_them(
        server, tmp_path, clean_environment):
    host_url = server.replace("http://", "http://user:secret@")
    ours = _outcome(Session(), host_url, "POST", "/api/todo", json={})
    assert ours == _outcome(requests.Session(), host_url, "POST", "/api/todo", json={})
    assert ("Authorization", "Basic dXNlcjpzZWNyZXQ=") in ours[1][0][2]
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login oa password pw\n")
    clean_environment.setenv("NETRC", str(netrc))
    ours = _outcome(Session(), server, "POST", "/api/todo", json={})
    assert ours == _outcome(requests.Session(), server, "POST", "/api/todo", json={})
    assert ("Authorization", "Basic b2E6cHc=") in ours[1][0][2]


def test_failures_raise_what_requests_raises(server):
    for url, timeout, error in [
            (server + "/slow", 0.1, requests.exceptions.ReadTimeout),
            ("http://127.0.0.1:9/api", 5, requests.exceptions.ConnectionError),
            ("http://127.0.0.1:bad/api", 5, requests.exceptions.InvalidURL),
            ("localhost/api", 5, requests.exceptions.MissingSchema),
            ("ftp://127.0.0.1/api", 5, requests.exceptions.InvalidSchema)]:
        for session in (Session(), requests.Session()):
            with pytest.raises(error):
                session.post(url, json={}, timeout=timeout)


def test_connections_are_kept_across_calls(server):
    _Recorder.ports = []
    session = Session()
    for n in range(5):
        session.post(server + "/api/todo", json={"n": n})
    assert len(_Recorder.ports) == 5 and len(set(_Recorder.ports)) == 1


@pytest.fixture
def tls_server(tmp_path, clean_environment):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _serve(context)
    yield f"https://127.0.0.1:{server.server_address[1]}", str(cert)
    server.shutdown()
    server.server_close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_is_verified_as_requests_verifies_it(tls_server, clean_environment):
    url, cert = tls_server
    for session in (Session(), requests.Session()):
        with pytest.raises(requests.exceptions.SSLError):
            session.post(url + "/api/todo", json={}, timeout=5)
        assert session.post(url + "/api/todo", json={}, verify=cert, timeout=5).json() == {"ok": 1}
        assert session.post(url + "/api/todo", json={}, verify=False, timeout=5).status_code == 200
    clean_environment.setenv("REQUESTS_CA_BUNDLE", cert)
    assert Session().post(url + "/api/todo", json={}, timeout=5).json() == {"ok": 1}
