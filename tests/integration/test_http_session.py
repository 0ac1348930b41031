"""The outbound HTTP session reads the environment once per origin, and answers exactly as
requests does: proxies, no_proxy and CA bundle overrides, including after they change."""
import http.server
import threading

import pytest
import requests

from integration.http import ENVIRONMENT, Session

URLS = ["http://127.0.0.1:8080/api/push", "https://oa.example.com/rest/ofs/ReceiveTodoRequest",
        "http://oa.internal:9000/x?token=1"]
SETUPS = [
    {},
    {"HTTP_PROXY": "http://proxy.corp:3128"},
    {"http_proxy": "http://lower.corp:3128", "HTTP_PROXY": "http://upper.corp:3128"},
    {"HTTPS_PROXY": "http://tls-proxy.corp:3128", "NO_PROXY": "example.com"},
    {"ALL_PROXY": "socks5://all.corp:1080", "no_proxy": "127.0.0.1,oa.internal"},
    {"HTTP_PROXY": "http://proxy.corp:3128", "REQUEST_METHOD": "GET"},  # urllib's CGI guard
    {"REQUESTS_CA_BUNDLE": "/etc/corp-ca.pem"},
    {"CURL_CA_BUNDLE": "/etc/curl-ca.pem", "https_proxy": "http://p:1"},
]


@pytest.fixture
def clean_environment(monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def settings_of(session, url, **kwargs):
    kwargs = {"proxies": {}, "stream": None, "verify": None, "cert": None, **kwargs}
    return session.merge_environment_settings(url, **kwargs)


def test_it_answers_as_requests_does_as_the_environment_changes(clean_environment):
    session = Session()
    for setup in SETUPS + list(reversed(SETUPS)):  # each change seen, also back again
        for name in ENVIRONMENT:
            clean_environment.delenv(name, raising=False)
        for name, value in setup.items():
            clean_environment.setenv(name, value)
        for url in URLS:
            for verify in (None, True, False, "/own/ca.pem"):
                assert (settings_of(session, url, verify=verify)
                        == settings_of(requests.Session(), url, verify=verify)), (setup, url)


def test_it_reads_the_environment_once_per_origin(clean_environment):
    calls = []
    real = requests.sessions.get_environ_proxies
    clean_environment.setattr(requests.sessions, "get_environ_proxies",
                              lambda url, no_proxy=None: calls.append(url) or real(url, no_proxy))
    session = Session()
    for n in range(50):
        settings_of(session, f"http://127.0.0.1:8080/api/push?n={n}")
        settings_of(session, "http://127.0.0.1:8081/other")
    assert len(calls) == 2
    clean_environment.setenv("NO_PROXY", "127.0.0.1")
    settings_of(session, "http://127.0.0.1:8080/api/push")
    assert len(calls) == 3


def test_per_call_proxies_and_session_settings_are_honoured(clean_environment):
    clean_environment.setenv("HTTP_PROXY", "http://env.corp:3128")
    session = Session()
    url = URLS[0]
    assert settings_of(session, url)["proxies"] == {"http": "http://env.corp:3128"}
    own = {"http": "http://call.corp:1"}
    assert settings_of(session, url, proxies=own)["proxies"]["http"] == "http://call.corp:1"
    session.proxies = {"http": "http://session.corp:2"}
    assert settings_of(session, url)["proxies"]["http"] == "http://env.corp:3128"
    assert settings_of(session, url) == settings_of(_plain(session), url)
    session.verify = "/session/ca.pem"
    assert settings_of(session, url)["verify"] == "/session/ca.pem"
    session.trust_env = False
    assert settings_of(session, url)["proxies"] == {"http": "http://session.corp:2"}
    # What a caller changes in the answer does not change the next one.
    settings_of(session, url)["proxies"]["https"] = "http://changed"
    assert "https" not in settings_of(session, url)["proxies"]


def _plain(session):
    plain = requests.Session()
    plain.proxies, plain.verify = dict(session.proxies), session.verify
    return plain


class _Answer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_it_calls_a_real_server_over_one_kept_connection_with_no_proxy_in_the_way(
        clean_environment):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # A proxy that does not exist, bypassed for 127.0.0.1 by no_proxy: every call must
        # honour the bypass, the cached ones too.
        clean_environment.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        clean_environment.setenv("NO_PROXY", "127.0.0.1")
        session = Session()
        port = server.server_address[1]
        answers = [session.get(f"http://127.0.0.1:{port}/n{n}", timeout=5).text for n in range(5)]
        assert answers == [f"/n{n}" for n in range(5)]
        clean_environment.delenv("NO_PROXY")  # now the dead proxy is used, and fails
        with pytest.raises(requests.exceptions.ProxyError):
            session.get(f"http://127.0.0.1:{port}/n9", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
