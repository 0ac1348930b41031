"""The HTTP client of outbound calls: requests' Session, reading the environment once.

requests reads the proxy variables and CA bundle overrides of the process environment on
every call (`merge_environment_settings` → urllib's `getproxies_environment`, which walks all
of `os.environ`): a tenth of a push worker's time. `Session` keeps what that gives per origin
and is asked again when one of the variables it depends on changes, so the answer is still
requests' own (proxies, `no_proxy`, `REQUESTS_CA_BUNDLE`, …)."""
import os
from urllib.parse import urlsplit

import requests

# The variables requests and urllib read for http(s) URLs. A mixed-case spelling
# (`Http_Proxy`) is honoured by urllib too, but only as the session first found it.
ENVIRONMENT = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
               "ALL_PROXY", "no_proxy", "NO_PROXY", "REQUEST_METHOD", "REQUESTS_CA_BUNDLE",
               "CURL_CA_BUNDLE")
# Origins remembered per session; a session calling more is a session calling anything.
ORIGINS = 256


class Session(requests.Session):
    def __init__(self):
        super().__init__()
        self._environment = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if proxies or not self.trust_env:  # per-call proxies: requests merges them itself
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        try:
            key = (parts.scheme, parts.netloc, stream, verify, cert, self.stream, self.verify,
                   self.cert, tuple(self.proxies.items()),
                   tuple(map(os.environ.get, ENVIRONMENT)))
            settings = self._environment.get(key)
        except TypeError:  # an unhashable setting: nothing to remember it by
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        if settings is None:
            if len(self._environment) >= ORIGINS:
                self._environment.clear()
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}
