"""The base of every IM provider (WeCom, DingTalk, Feishu, …) and its registry.

A provider speaks one vendor's open API for one `IMAccount` (integration.models.im): it gets
and caches the access token, sends messages and message cards, and runs group chats. Failure
alerts use it through the `im` and `cloud_bridge` channels; action flows (seeds 004: send an IM
message, create an IM group, send to it, change its settings) use the same providers.

A subclass declares what it can do in `capabilities` and provides:
- `key` (stored in IMAccount.provider), `label`, `default_base_url`;
- MESSAGE: `send_text(user_ids, content)` and `send_card(user_ids, card)` → SendResult,
  raising ProviderError when nothing was sent;
- GROUP: `create_group(name, owner, members, group_id="")` → GroupResult,
  `update_group(group_id, *, name, owner, add_members, remove_members)` → the raw answer,
  `send_group_text(group_id, content)` and `send_group_card(group_id, card)` → SendResult;
- optionally `check_account(account)` (field-by-field rules for the admin and the API) and
  `test_connection()`.
Callers may ask `supports()` first; either way the base versions of the group and card methods
refuse a capability the provider does not declare with `Unsupported` (a permanent
ProviderError), so a flow step says "this provider has no group chats" instead of crashing.
Group kinds (normal, topic, matter) are the console's notion: a provider only creates a chat.
Vendor codes (which error codes are permanent, which mean "token expired") belong in tables at
the top of the provider's module.
"""
from dataclasses import dataclass, field

import requests
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..http import short_error

TIMEOUT = (5, 15)  # connect, read (seconds)

MESSAGE = "message"
GROUP = "group"
CAPABILITY_LABELS = {MESSAGE: gettext_lazy("messages"), GROUP: gettext_lazy("group chats")}


class ProviderError(Exception):
    """A failed call. `permanent` says retrying cannot help (bad credentials, unknown users,
    a refused agent); otherwise it is transient (timeout, refused connection, 5xx, busy)."""

    def __init__(self, reason, permanent=False, code=None, response=""):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code
        self.response = response


class Unsupported(ProviderError):
    def __init__(self, provider, capability):
        super().__init__(_("The IM provider %(provider)s does not support %(capability)s.")
                         % {"provider": provider.label,
                            "capability": CAPABILITY_LABELS.get(capability, capability)},
                         permanent=True)
        self.capability = capability


@dataclass
class SendResult:
    """A message the provider accepted. `invalid_users` are ids it could not deliver to
    (unknown or outside the app's visible range): reported, not fatal."""

    message_id: str = ""
    invalid_users: list[str] = field(default_factory=list)
    response: str = ""


@dataclass
class Card:
    """A message card: a title, a few lines and a link to the record it is about (the seeds'
    "send IM message" with a title of fixed text and values, a body, and the record's link).
    `button_text` is the link's label where the vendor shows one."""

    title: str
    description: str = ""
    url: str = ""
    button_text: str = ""

    def as_text(self):
        """The card as plain text, for a vendor (or a case) that cannot show a card."""
        return "\n".join(part for part in (self.title, self.description, self.url) if part)


@dataclass
class GroupResult:
    """A group chat the provider created: its id, for later sends and changes."""

    group_id: str
    response: str = ""


class Provider:
    key = ""
    label = ""
    default_base_url = ""
    capabilities: frozenset = frozenset({MESSAGE})

    def __init__(self, account, session=None):
        self.account = account
        self.session = session or requests.Session()
        self.base_url = (account.base_url or self.default_base_url).rstrip("/")

    @classmethod
    def supports(cls, capability):
        return capability in cls.capabilities

    def require(self, capability):
        if not self.supports(capability):
            raise Unsupported(self, capability)

    # -- what subclasses implement ---------------------------------------------------------
    @classmethod
    def check_account(cls, account) -> dict:
        """Field name → message for what this provider cannot work with; empty when fine."""
        return {}

    def send_text(self, user_ids: list[str], content: str) -> SendResult:
        raise TypeError(f"{type(self).__name__} must implement send_text()")

    def send_card(self, user_ids: list[str], card: Card) -> SendResult:
        self.require(MESSAGE)
        raise TypeError(f"{type(self).__name__} must implement send_card()")

    def create_group(self, name: str, owner: str, members: list[str],
                     group_id: str = "") -> GroupResult:
        """A new chat of `members` (the owner is one of them); `group_id` asks for that id
        where the vendor lets the caller choose it."""
        self.require(GROUP)
        raise TypeError(f"{type(self).__name__} must implement create_group()")

    def update_group(self, group_id: str, *, name=None, owner=None, add_members=(),
                     remove_members=()) -> str:
        """Changes only what is given (None and empty lists are left alone); returns the
        vendor's answer for the log."""
        self.require(GROUP)
        raise TypeError(f"{type(self).__name__} must implement update_group()")

    def send_group_text(self, group_id: str, content: str) -> SendResult:
        self.require(GROUP)
        raise TypeError(f"{type(self).__name__} must implement send_group_text()")

    def send_group_card(self, group_id: str, card: Card) -> SendResult:
        self.require(GROUP)
        raise TypeError(f"{type(self).__name__} must implement send_group_card()")

    def test_connection(self) -> str:
        raise TypeError(f"{type(self).__name__} must implement test_connection()")

    # -- shared machinery ------------------------------------------------------------------
    def http(self, method, url, **kwargs) -> dict:
        """One HTTP call answered with a JSON object; transport failures become ProviderError
        with the right class (timeouts, refused connections, 5xx, 408 and 429 are transient)."""
        kwargs.setdefault("timeout", TIMEOUT)
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.Timeout:
            raise ProviderError(_("Timed out waiting for %(url)s.")
                                % {"url": _without_query(url)}) from None
        except requests.ConnectionError:
            raise ProviderError(_("Cannot connect to %(url)s.")
                                % {"url": _without_query(url)}) from None
        except requests.RequestException as exc:
            raise ProviderError(short_error(exc), permanent=True) from None
        status = response.status_code
        if status >= 400:
            raise ProviderError(_("The IM provider answered HTTP %(status)d.") % {"status": status},
                                permanent=not (status >= 500 or status in (408, 429)),
                                response=response.text[:2000])
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderError(_("The IM provider's answer is not a JSON object."),
                                response=response.text[:2000])
        return data


def _without_query(url):
    """URLs of IM APIs carry the access token in the query: never show it."""
    return url.split("?", 1)[0]


REGISTRY: dict[str, type[Provider]] = {}


class UnknownProvider(LookupError):
    pass


def register(cls):
    if not cls.key or cls.key in REGISTRY:
        raise ValueError(f"IM provider key {cls.key!r} is empty or taken")
    REGISTRY[cls.key] = cls
    return cls


def get_provider_class(key) -> type[Provider]:
    try:
        return REGISTRY[key]
    except KeyError:
        raise UnknownProvider(_("“%(name)s” is not a registered IM provider.")
                              % {"name": key}) from None


def provider_choices():
    return [(key, cls.label) for key, cls in REGISTRY.items()]
