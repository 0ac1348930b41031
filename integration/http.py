"""The HTTP client of outbound calls: requests' Session, with the per-call work done once.

Two costs of requests are paid on every call though their answer rarely changes:
- the proxy variables and CA bundle overrides of the process environment
  (`merge_environment_settings` → urllib's `getproxies_environment`, which walks all of
  `os.environ`), and the netrc lookup (a few `stat`s): `Session` keeps their answer per origin
  and asks again when one of the variables it depends on changes;
- preparing the request (`Session.request` → `prepare_request` → `PreparedRequest.prepare`:
  settings merged three times, hooks, cookies, URL parsed and re-quoted): for the plain calls
  the transports make — a URL seen before, bytes or JSON, headers, no cookies, auth, files or
  hooks — `Session` builds the same `PreparedRequest` directly and hands it to the same
  adapter, then does what `Session.send` does after it (cookies, redirects, content).
  Half of requests' CPU per call (the push worker's largest cost) goes; anything else takes
  requests' own path. Either way the answer is requests' own: the adapter, its pools, TLS
  settings, proxies, exceptions and `Response` are requests'.
"""
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar
from requests.exceptions import InvalidJSONError
from requests.hooks import default_hooks
from requests.models import PreparedRequest, complexjson
from requests.sessions import preferred_clock
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity, get_netrc_auth

from .secrets import mask

# The variables requests and urllib read for http(s) URLs. A mixed-case spelling
# (`Http_Proxy`) is honoured by urllib too, but only as the session first found it.
ENVIRONMENT = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
               "ALL_PROXY", "no_proxy", "NO_PROXY", "REQUEST_METHOD", "REQUESTS_CA_BUNDLE",
               "CURL_CA_BUNDLE",
               "NETRC", "HOME")  # where requests looks for a netrc file
# Origins (and URLs) remembered per session; a session calling more is a session calling
# anything, and starts over.
ORIGINS = 256


class Session(requests.Session):
    def __init__(self):
        super().__init__()
        self._environment = {}
        self._netrc = {}
        self._urls = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        return self._settings(url, proxies, stream, verify, cert, _environment())

    def _settings(self, url, proxies, stream, verify, cert, environment):
        if proxies or not self.trust_env:  # per-call proxies: requests merges them itself
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        try:
            key = (parts.scheme, parts.netloc, stream, verify, cert, self.stream, self.verify,
                   self.cert, tuple(self.proxies.items()), environment)
            settings = self._environment.get(key)
        except TypeError:  # an unhashable setting: nothing to remember it by
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        if settings is None:
            _bound(self._environment)
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}

    def request(self, method, url, params=None, data=None, headers=None, cookies=None,
                files=None, auth=None, timeout=None, allow_redirects=True, proxies=None,
                hooks=None, stream=None, verify=None, cert=None, json=None):
        environment = _environment()  # read once for the proxies and netrc of this call
        prepared = self._prepare_plain(method, url, params, data, headers, cookies, files,
                                       auth, hooks, json, environment)
        if prepared is None:
            return super().request(method, url, params, data, headers, cookies, files, auth,
                                   timeout, allow_redirects, proxies, hooks, stream, verify,
                                   cert, json)
        settings = self._settings(prepared.url, proxies or {}, stream, verify, cert,
                                  environment)
        return self._send_plain(prepared, timeout=timeout, allow_redirects=allow_redirects,
                                **settings)

    def _prepare_plain(self, method, url, params, data, headers, cookies, files, auth, hooks,
                       json, environment):
        """The PreparedRequest requests would build, or None for a call that needs requests'
        own preparation (cookies, auth, files, hooks, query params, form or streamed data, a
        URL it cannot parse or that carries credentials)."""
        if (params or self.params or files or auth or self.auth or cookies or len(self.cookies)
                or hooks or any(self.hooks.values()) or self.stream
                or not (data is None or isinstance(data, bytes))
                or not (headers is None or isinstance(headers, Mapping))
                or not isinstance(url, str) or not isinstance(method, str)):
            return None
        plain_url = self._plain_url(url)
        if plain_url is None or (self.trust_env and self._netrc_auth(url, environment)):
            return None
        prepared = PreparedRequest()
        prepared.method = method.upper()
        prepared.url = plain_url
        prepared.headers = merged = CaseInsensitiveDict(self.headers)
        if headers:
            merged.update(headers)
        for name, value in list(merged.items()):
            if not isinstance(name, str):  # bytes: requests converts them
                return None
            if value is None:
                del merged[name]
            else:
                check_header_validity((name, value))
        body, content_type = None, None
        if not data and json is not None:
            content_type = "application/json"
            try:
                body = complexjson.dumps(json, allow_nan=False)
            except ValueError as exc:
                raise InvalidJSONError(exc, request=prepared)  # chained, as requests does
            if not isinstance(body, bytes):
                body = body.encode("utf-8")
        elif data:
            body = data
        if body:
            prepared.headers["Content-Length"] = str(len(body))
        elif body is None and prepared.method not in ("GET", "HEAD") and (
                prepared.headers.get("Content-Length") is None):
            prepared.headers["Content-Length"] = "0"
        if content_type and "content-type" not in prepared.headers:
            prepared.headers["Content-Type"] = content_type
        prepared.body = body
        prepared.hooks = default_hooks()
        prepared._cookies = RequestsCookieJar()  # what requests merges from an empty jar
        return prepared

    def _send_plain(self, request, allow_redirects, **kwargs):
        """`Session.send` for a request prepared here (no hooks, the jar was empty)."""
        adapter = self.get_adapter(url=request.url)
        if type(adapter) is not HTTPAdapter:  # a mounted adapter of its own: requests' path
            return self.send(request, allow_redirects=allow_redirects, **kwargs)
        start = preferred_clock()
        response = adapter.send(request, **kwargs)
        response.elapsed = timedelta(seconds=preferred_clock() - start)
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            extract_cookies_to_jar(self.cookies, request, response.raw)
        if response.is_redirect:
            if allow_redirects:
                history = list(self.resolve_redirects(response, request, **kwargs))
                if history:
                    history.insert(0, response)
                    response = history.pop()
                    response.history = history
            else:
                response._next = next(self.resolve_redirects(
                    response, request, yield_requests=True, **kwargs), None)
        if not kwargs.get("stream"):
            response.content
        return response

    def _plain_url(self, url):
        """The URL as requests would send it, or None when requests must see it (it fails
        on it, or takes credentials from it)."""
        plain = self._urls.get(url, False)
        if plain is False:
            _bound(self._urls)
            try:
                prepared = PreparedRequest()
                prepared.prepare_url(url, None)
                plain = prepared.url
            except requests.RequestException:
                plain = None
            if plain is not None and "@" in urlsplit(plain).netloc:
                plain = None
            self._urls[url] = plain
        return plain

    def _netrc_auth(self, url, environment):
        """requests' netrc lookup for the URL as given (its host as written), once."""
        key = (urlsplit(url).hostname, environment)
        if key not in self._netrc:
            _bound(self._netrc)
            self._netrc[key] = get_netrc_auth(url)
        return self._netrc[key]


def _environment():
    return tuple(map(os.environ.get, ENVIRONMENT))


def _bound(cache):
    if len(cache) >= ORIGINS:
        cache.clear()


# Credentials an address may carry: a password in its user part (http://user:pw@host/, up to
# the last "@" before the path, as urlsplit reads it) and the values of query parameters
# named like secrets (?access_token=…, &sign=…): the name's words, split at "_", "-" and
# ".", or the whole name lower-cased. Both patterns are linear: reasons can be long.
_URL_PASSWORD = re.compile(r"(//[^/@:\s]*:)([^/\s]*)(@)")
_URL_PARAMETER = re.compile(r"([?&#])([\w.-]+)=([^&#\s'\"]*)")
SECRET_WORDS = frozenset({
    "token", "secret", "password", "passwd", "pwd", "key", "sign", "signature", "auth",
    "authorization", "credential", "credentials", "accesstoken", "refreshtoken", "appsecret",
    "clientsecret", "apikey", "secretkey", "privatekey", "accesskey"})


def is_secret_name(name: str) -> bool:
    name = name.lower()
    return name in SECRET_WORDS or any(w in SECRET_WORDS for w in re.split(r"[_.-]", name))


def without_credentials(text: str) -> str:
    """An address, or a text quoting one, fit to show and log: its credentials masked."""
    text = _URL_PASSWORD.sub(lambda m: m[1] + mask(m[2]) + m[3], str(text))
    return _URL_PARAMETER.sub(
        lambda m: f"{m[1]}{m[2]}={mask(m[3])}" if m[3] and is_secret_name(m[2]) else m[0], text)


def short_error(exc) -> str:
    """An exception's text for a log, a reason or an answer, cut at 200 characters, any
    address in it without credentials. requests quotes the offending value when a header is
    malformed: a token with a line break would be shown in the clear, so that one is
    described instead."""
    if isinstance(exc, requests.exceptions.InvalidHeader):
        return _("A header's name or value holds a line break or another character HTTP does "
                 "not allow.")
    text = str(exc)
    return without_credentials(text if len(text) < 200 else text[:200] + "…")
