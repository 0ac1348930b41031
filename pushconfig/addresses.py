"""The links a pushed todo carries (PC, app, adaptive): the OA's own, or built by a push address.

How a link is built, given the item's original link, its request id, the receiver and a clock:

- The original link comes from `OA_PC_URL` / `OA_APP_URL` (`{oa}`, `{request_id}` and
  `{receiver}`, the receiver's login id); the adaptive link starts as the PC link.
- When the config is bound to an enabled push address for that kind, the address's parameters
  are evaluated in order and become a query string: `name=value`, both percent-encoded with
  `quote(…, safe="")` (UTF-8; a space is `%20`, `&` `%26`, `#` `%23`, `%` `%25`). The
  "encoded original URL" parameter's value is the original link itself, so it is encoded
  exactly once, here: decoding the query gives the original link back.
- Redirect off: the query is appended to the original link — after `&` when it already has a
  query, and before its `#fragment`.
- Redirect on: the link is the prefix followed by the query (after `?`, or `&` when the prefix
  has a query, before a fragment). The prefix page reads the "encoded original URL"
  parameter (a redirecting address must have one) and redirects there. A relative prefix
  (`/ecology/jump`) gives a relative link, which the target resolves against the OA's address
  it knows (as it does the OA's own relative links).
- System variables are the time of the batch (one clock reading per batch), in the console's
  time zone: date `yyyy-MM-dd`, time `HH:mm:ss`, datetime `yyyy-MM-dd HH:mm:ss`, timestamps
  in milliseconds or seconds since the epoch.

`BoundAddresses.for_config` reads a config's bindings once per batch (a query for the bindings
with their addresses, one for the parameters, one for the cloud bridge when a parameter uses
it); `items.build_items` asks it for each item's links, and the preview goes through
`build_items` too, so it shows exactly what a push carries.
"""
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from integration.events import check_text, refusal

from .models.address import (
    AddressBinding,
    CloudBridgeConfig,
    SystemParameter,
    SystemVariable,
    UrlKind,
    ValueKind,
)


def now():
    """The default clock; tests pass their own."""
    return timezone.now()


def tenant_key():
    # OA_TENANT_KEY is added to config/settings.py by its owner; until then it is empty.
    return getattr(settings, "OA_TENANT_KEY", "")


def default_links(request_id, receiver=""):
    """The OA's own links to a request, per URL kind."""
    values = {"oa": settings.OA_BASE_URL.rstrip("/"), "request_id": request_id,
              "receiver": receiver}
    pc_url = settings.OA_PC_URL.format(**values)
    return {UrlKind.PC: pc_url, UrlKind.APP: settings.OA_APP_URL.format(**values),
            UrlKind.ADAPTIVE: pc_url}


@dataclass
class Moment:
    """What a link is built from besides the address: shared by a batch."""

    at: datetime
    tenant_key: str = ""
    cloud_bridge: CloudBridgeConfig | None = None

    def variable(self, which):
        local = timezone.localtime(self.at, timezone.get_default_timezone())
        return {
            SystemVariable.DATE: lambda: local.strftime("%Y-%m-%d"),
            SystemVariable.TIME: lambda: local.strftime("%H:%M:%S"),
            SystemVariable.DATETIME: lambda: local.strftime("%Y-%m-%d %H:%M:%S"),
            SystemVariable.TIMESTAMP_MS: lambda: str(int(self.at.timestamp() * 1000)),
            SystemVariable.TIMESTAMP_S: lambda: str(int(self.at.timestamp())),
        }[which]()


def parameter_value(parameter, original, request_id, moment):
    """The plain (not yet encoded) value of one parameter."""
    if parameter.kind == ValueKind.FIXED:
        return parameter.value
    if parameter.kind == ValueKind.VARIABLE:
        return moment.variable(parameter.source)
    if parameter.kind == ValueKind.SYSTEM:
        return {SystemParameter.TENANT_KEY: moment.tenant_key,
                SystemParameter.REQUEST_ID: str(request_id),
                SystemParameter.ENCODED_URL: original}[parameter.source]
    bridge = moment.cloud_bridge or CloudBridgeConfig()
    return bridge.value_of(parameter.source)


def encode_query(pairs):
    """name=value pairs joined by `&`, each side percent-encoded once."""
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)


def append_query(url, query):
    """`url` with `query` added to its query string, before any fragment."""
    if not query:
        return url
    base, hash_mark, fragment = url.partition("#")
    if "?" not in base:
        separator = "?"
    elif base.endswith(("?", "&")):
        separator = ""
    else:
        separator = "&"
    return f"{base}{separator}{query}{hash_mark}{fragment}"


def build_url(address, original, request_id, moment, parameters=None):
    """The link `address` makes of `original` (see the module's docstring)."""
    if parameters is None:
        parameters = address.parameters.all()
    query = encode_query((p.name, parameter_value(p, original, request_id, moment))
                         for p in parameters)
    return append_query(address.prefix if address.redirect else original, query)


@dataclass
class Links:
    """One item's three links, and the push address each came from (None: the OA's own)."""

    urls: dict
    sources: dict = field(default_factory=dict)

    @property
    def pc_url(self):
        return self.urls[UrlKind.PC]

    @property
    def app_url(self):
        return self.urls[UrlKind.APP]

    @property
    def adaptive_url(self):
        return self.urls[UrlKind.ADAPTIVE]


class BoundAddresses:
    """A config's push address per URL kind, read once for a batch of items."""

    def __init__(self, by_kind, moment):
        self.by_kind = by_kind
        self.moment = moment
        self._parameters = {address.pk: list(address.parameters.all())
                            for address in by_kind.values()}

    @classmethod
    def for_config(cls, config, clock=None, include=None):
        """The enabled addresses bound to `config`; `include` (the previewed address) counts
        as enabled whatever its switch says."""
        enabled = Q(address__enabled=True)
        if include is not None:
            enabled |= Q(address_id=include.pk)
        bindings = (AddressBinding.objects.filter(enabled, config_id=config.pk)
                    .select_related("address").prefetch_related("address__parameters"))
        by_kind = {kind: binding.address for binding in bindings for kind in binding.kinds}
        moment = Moment(at=(clock or now)(), tenant_key=tenant_key())
        result = cls(by_kind, moment)
        if result.uses(ValueKind.CLOUD_BRIDGE):
            moment.cloud_bridge = CloudBridgeConfig.current()
        return result

    def uses(self, kind, source=None):
        return any(p.kind == kind and (source is None or p.source == source)
                   for parameters in self._parameters.values() for p in parameters)

    def links(self, request_id, receiver):
        urls = default_links(request_id, receiver)
        sources = {}
        for kind, original in list(urls.items()):
            address = self.by_kind.get(kind)
            sources[kind] = address
            if address is not None:
                urls[kind] = build_url(address, original, request_id, self.moment,
                                       self._parameters[address.pk])
        return Links(urls, sources)


# -- preview ------------------------------------------------------------------------------------
def validate_request_id(value):
    if not value or not str(value).isdigit() or not str(value).isascii():
        raise ValidationError(_("Enter the request id in digits only."), code="digits")


def validate_operator(login_id):
    from integration.models import Person

    if problem := refusal(check_text, login_id):  # before the query: PostgreSQL fails on it
        raise ValidationError(problem, code="text")
    if not Person.objects.filter(login_id=login_id).exists():
        raise ValidationError(_("No person with the login id “%(login)s” is in the directory.")
                              % {"login": login_id}, code="unknown")


def preview(address, request_id, operator, clock=None):
    """For each push config bound to `address`: the three links a push of request
    `request_id` to `operator` (a login id) would carry now, built by `items.build_items`
    itself. Kinds a config takes from another enabled address show that address's link, as a
    push would. Returns {"results": [...], "warnings": [...]}."""
    from .items import build_items
    from .models import PushRecord

    at = (clock or now)()
    bindings = list(address.bindings.select_related("config").order_by("id"))
    results = []
    for binding in bindings:
        config = binding.config
        record = PushRecord(
            config=config, request_id=str(request_id), receiver=operator, creator="",
            identity="", workflow_id="", data_set="todo", business_status="arrive",
            idempotency_key="preview", payload={"occurred_at": at.isoformat()})
        bound = BoundAddresses.for_config(config, clock=lambda: at, include=address)
        items, refused = build_items(config, [record], addresses=bound)
        item = items[0]
        links = bound.links(record.request_id, operator)
        problem = refused.get(record.pk)
        results.append({
            "config": config.pk, "identifier": config.identifier,
            "system_name": config.system_name, "enabled": config.enabled,
            "receiver": item.receiver, "problem": problem.reason if problem else "",
            "pc_url": item.pc_url, "app_url": item.app_url, "adaptive_url": item.adaptive_url,
            "sources": {kind: (source.name if source is not None else None)
                        for kind, source in links.sources.items()},
        })
    return {"results": results, "warnings": preview_warnings(address, bindings)}


def preview_warnings(address, bindings):
    warnings = []
    if not address.enabled:
        warnings.append(_("This push address is disabled: pushes carry these links only once "
                          "it is enabled. Until then they carry the OA's own links."))
    if not bindings:
        warnings.append(_("No push config is bound to this push address."))
    parameters = list(address.parameters.all())
    if any(p.kind == ValueKind.SYSTEM and p.source == SystemParameter.TENANT_KEY
           for p in parameters) and not tenant_key():
        warnings.append(_("The tenant key is not set (OA_TENANT_KEY): its parameter is empty."))
    bridge_keys = [p.source for p in parameters if p.kind == ValueKind.CLOUD_BRIDGE]
    if bridge_keys:
        bridge = CloudBridgeConfig.current()
        for key in bridge_keys:
            if not bridge.value_of(key):
                warnings.append(_("The cloud bridge's %(key)s is not set: its parameter is "
                                  "empty.") % {"key": CloudBridgeConfig.label_of(key)})
    return warnings
