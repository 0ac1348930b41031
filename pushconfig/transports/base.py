"""The base of every push type (transport).

A transport turns push items into calls to one target system in that system's own protocol,
and each answer into a `Delivery`: success, or a failure that says whether retrying can help.

A subclass must provide:
- `key` (the push type's code), `label`, `implementation` (the class name administrators see),
- `Params`, a DRF serializer of its parameters (used by the admin form and the API alike),
  `secret_params` (stored encrypted, masked everywhere) and `suite_params` (asked by the
  quick-create suite),
- `send_one(item)` (or `send(items)` for targets with a batch API), and `test_connection()`.
Vendor codes (data sets → operations, answer codes) belong in a table at the top of its module.
"""
import time
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from functools import cached_property

import requests
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import serializers

from integration.http import Session, short_error, without_credentials
from integration.secrets import mask, mask_forms, secret_forms


def timeout():
    """(connect, read) seconds for every push call."""
    from django.conf import settings

    return (settings.PUSH_CONNECT_TIMEOUT, settings.PUSH_READ_TIMEOUT)
# Keys masked in every logged request, whatever the transport calls its parameters.
SECRET_KEYS = {"access_token", "accessToken", "refresh_token", "refreshToken", "password",
               "app_secret", "appSecret", "secret", "token", "sign"}


@dataclass
class PushItem:
    """One record, as a transport needs it: our ids already mapped to the target's."""

    record_id: int
    idempotency_key: str
    data_set: str
    business_status: str
    request_id: str
    title: str
    workflow_id: str
    workflow_name: str
    node_name: str
    creator: str            # mapped through the config's person mapping
    receiver: str           # mapped through the config's person mapping
    receiver_login: str
    identity: str
    created_at: datetime
    occurred_at: datetime
    viewed: bool
    task_id: str = ""
    pc_url: str = ""
    app_url: str = ""
    adaptive_url: str = ""


@dataclass
class Delivery:
    ok: bool
    reason: str = ""
    permanent: bool = False
    http_status: int | None = None
    request: dict = field(default_factory=dict)
    response: str = ""
    retry_after: float | None = None
    duration_ms: int | None = None
    error_class: str = ""


NOT_SENT = "NotSent"
# Failures found before any call (a person that cannot be mapped, a record that cannot be
# built, an item a batch stopped before): they say nothing about the target's health.
LOCAL_ERRORS = {NOT_SENT, "MappingError", "BuildError"}


def not_sent():
    """The answer for an item a batch stopped before: no call was made, nothing to count."""
    return Delivery(False, error_class=NOT_SENT)


class TransportError(Exception):
    """A failed call. `permanent` says retrying cannot help (unknown user, bad credentials,
    unregistered system); otherwise it is transient (timeout, refused connection, 5xx, 429)."""

    def __init__(self, reason, permanent=False, http_status=None, response="", retry_after=None):
        reason = without_credentials(reason)  # it names the address: the log shows it
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.http_status = http_status
        self.response = response
        self.retry_after = retry_after


class NoParams(serializers.Serializer):
    pass


class Transport:
    key = ""
    label = ""
    implementation = ""
    Params = NoParams
    secret_params: tuple = ()
    suite_params: tuple = ()
    batch_size = 100
    # Whether the registry lists it under the "custom" push type rather than as its own.
    custom = False

    def __init__(self, config, params, session=None):
        self.config = config
        self.params = params
        self.session = session or Session()
        self.base_url = config.server_url.rstrip("/")
        self.last_request = {}

    # -- what subclasses implement ---------------------------------------------------------
    def send_one(self, item: PushItem) -> Delivery:
        raise TypeError(f"{type(self).__name__} must implement send_one() or send()")

    def test_connection(self) -> Delivery:
        raise TypeError(f"{type(self).__name__} must implement test_connection()")

    # -- shared machinery ------------------------------------------------------------------
    def send(self, items: list[PushItem], keep_going=None) -> list[Delivery]:
        """Send items in order. `keep_going()` is asked before each item (the worker's lane
        lease); a run of `fuse_threshold` transient failures also stops the batch early, since
        the target is in trouble. Items not tried are answered NOT_SENT."""
        results, failing = [], 0
        for item in items:
            if (keep_going and not keep_going()) or failing >= self.config.fuse_threshold:
                results.append(not_sent())
                continue
            result = self.deliver(lambda item=item: self.send_one(item))
            failing = failing + 1 if not (result.ok or result.permanent) else 0
            results.append(result)
        return results

    def deliver(self, call) -> Delivery:
        """Run one call, timing it and turning a TransportError into a failed Delivery."""
        started = time.monotonic()
        self.last_request = {}
        try:
            result = call()
        except TransportError as exc:
            result = Delivery(False, exc.reason, exc.permanent, exc.http_status,
                              response=exc.response, retry_after=exc.retry_after,
                              error_class=type(exc).__name__)
        result.duration_ms = int((time.monotonic() - started) * 1000)
        result.request = self.mask(result.request or self.last_request)
        return result

    def mask(self, data: dict) -> dict:
        """A copy of what is sent, fit for the log: the values of secret keys masked at any
        depth, and a secret parameter's value masked wherever text carries it (a form or
        SOAP body, a query string a custom push type builds)."""
        hidden = set(self.secret_params) | SECRET_KEYS
        forms = self.secret_forms
        # Only what can hold a secret is visited: this runs for every delivery.
        deep = {dict, list, str} if forms else {dict, list}

        def walk(item):
            if isinstance(item, dict):
                return {k: (mask(str(v)) if k in hidden and v
                            else walk(v) if type(v) in deep else v) for k, v in item.items()}
            if isinstance(item, list):
                return [walk(v) if type(v) in deep else v for v in item]
            if isinstance(item, str):
                return mask_forms(item, forms)
            return item

        return walk(data or {})

    @cached_property
    def secret_forms(self):
        """The secret parameters' values as text may carry them (integration.secrets)."""
        return secret_forms(str(self.params.get(k) or "") for k in self.secret_params)

    def http(self, method, url, **kwargs) -> requests.Response:
        """One HTTP call; transport-level failures become TransportError with the right class."""
        kwargs.setdefault("timeout", timeout())
        sent = kwargs.get("json") or kwargs.get("data")
        self.last_request = sent if isinstance(sent, dict) else {"body": str(sent or "")[:4000]}
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.Timeout:
            raise TransportError(_("Timed out waiting for %(url)s.") % {"url": url}) from None
        except requests.ConnectionError as exc:
            raise TransportError(_("Cannot connect to %(url)s: %(error)s")
                                 % {"url": url, "error": short_error(exc)}) from None
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            # The answer broke off mid-way: the target may or may not have acted; trying
            # again is safe (idempotency key) and needed.
            raise TransportError(_("The answer from %(url)s broke off: %(error)s")
                                 % {"url": url, "error": short_error(exc)}) from None
        except requests.RequestException as exc:
            # What is left is about the request itself (a malformed URL, too many redirects):
            # sending it again cannot help.
            raise TransportError(short_error(exc), permanent=True) from None
        if response.status_code == 429 or response.status_code >= 500 or response.status_code == 408:
            raise TransportError(
                _("The target answered HTTP %(status)d.") % {"status": response.status_code},
                http_status=response.status_code, response=response.text[:4000],
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code >= 400:
            raise TransportError(
                _("The target refused the request with HTTP %(status)d.")
                % {"status": response.status_code},
                permanent=True, http_status=response.status_code, response=response.text[:4000],
            )
        return response

    def json_of(self, response) -> dict:
        try:
            data = response.json()
        except ValueError:
            raise TransportError(_("The target's answer is not JSON."), permanent=False,
                                 http_status=response.status_code,
                                 response=response.text[:4000]) from None
        if not isinstance(data, dict):
            raise TransportError(_("The target's answer is not a JSON object."),
                                 http_status=response.status_code, response=response.text[:4000])
        return data


RETRY_AFTER_MAX = 24 * 3600


def _retry_after(value):
    """Retry-After as seconds: either a number or an HTTP date; capped at a day, since a
    target's header must not park a todo for years (or overflow the next try's date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(min(int(value), RETRY_AFTER_MAX) if len(value) <= 9 else RETRY_AFTER_MAX)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": the sender's zone is unknown; RFC 5322 reads it as UTC
        when = when.replace(tzinfo=dt_timezone.utc)
    return min(max(0.0, (when - timezone.now()).total_seconds()), RETRY_AFTER_MAX)


def oa_datetime(value: datetime) -> str:
    """`yyyy-MM-dd HH:mm:ss` in the console's time zone (TIME_ZONE), as Weaver's servers cut
    dates by position. The zone named, not looked up as the current one (a context
    variable), and the text by isoformat, not strftime: each cost more than the rest, and
    this runs twice a push."""
    local = timezone.localtime(value, timezone.get_default_timezone())
    return local.replace(tzinfo=None).isoformat(" ", "seconds")


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)
