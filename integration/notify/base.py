"""The base of every notification channel (email, IM, cloud bridge, SMS) and its registry.

A channel sends one message to a list of persons: `send(recipients, subject, content)` →
ChannelResult. Persons the channel has no address for (no email, no mobile, no IM user id)
are reported in the result's detail and left out; they never fail the others. A result that
failed says whether retrying can help (`permanent`), like a push transport's errors: no
recipient with an address, or a gateway refusing our credentials, will not get better.

A subclass must provide `key`, `label`, `address_label`, `address(person)` and
`deliver(addressed, subject, content)`, which sends to [(person, address), …] and returns
the persons reached (or raises ChannelError, with the persons already reached if any).
`uses_custom_text` says whether the alert's custom subject and content apply (the seed: email
and SMS only).
"""
from dataclasses import dataclass, field

from django.utils.translation import gettext as _


class ChannelError(Exception):
    """Nothing (or not everything) was sent. `reached` lists the persons a channel that sends
    one call per person did reach before failing, so a retry leaves them out."""

    def __init__(self, reason, permanent=False, reached=()):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.reached = list(reached)


@dataclass
class ChannelResult:
    ok: bool
    detail: str = ""
    permanent: bool = False
    reached: list = field(default_factory=list)   # primary keys of the persons reached


class Channel:
    key = ""
    label = ""
    address_label = ""
    uses_custom_text = False

    def address(self, person) -> str:
        raise TypeError(f"{type(self).__name__} must implement address()")

    def deliver(self, addressed, subject, content):
        """Send to [(person, address)]; return the persons reached (all of them, unless the
        vendor says otherwise). Raise ChannelError when nothing was sent."""
        raise TypeError(f"{type(self).__name__} must implement deliver()")

    def send(self, recipients, subject, content) -> ChannelResult:
        addressed, missing = [], []
        for person in recipients:
            address = (self.address(person) or "").strip()
            (addressed.append((person, address)) if address else missing.append(person))
        notes = []
        if missing:
            notes.append(_("Without %(what)s, not sent to: %(persons)s.")
                         % {"what": self.address_label, "persons": _names(missing)})
        if not addressed:
            if not recipients:
                notes.insert(0, _("No recipients."))
            return ChannelResult(False, " ".join(notes), permanent=True)
        try:
            reached = self.deliver(addressed, subject, content)
        except ChannelError as exc:
            return ChannelResult(False, " ".join([exc.reason, *notes]), exc.permanent,
                                 reached=sorted(person.pk for person in exc.reached))
        reached_ids = {person.pk for person in reached}
        unreached = [person for person, _address in addressed if person.pk not in reached_ids]
        if unreached:
            notes.append(_("Refused by the %(channel)s service for: %(persons)s.")
                         % {"channel": self.label, "persons": _names(unreached)})
        done = _("Sent to %(count)d of %(total)d recipients.") % {
            "count": len(reached_ids), "total": len(recipients)}
        return ChannelResult(bool(reached_ids), " ".join([done, *notes]),
                             permanent=not reached_ids, reached=sorted(reached_ids))


def _names(persons, limit=20):
    shown = ", ".join(f"{p.name} ({p.login_id})" for p in persons[:limit])
    if len(persons) > limit:
        shown += _(" and %(count)d more") % {"count": len(persons) - limit}
    return shown


REGISTRY: dict[str, type[Channel]] = {}


class UnknownChannel(LookupError):
    pass


def register(cls):
    if not cls.key or cls.key in REGISTRY:
        raise ValueError(f"channel key {cls.key!r} is empty or taken")
    REGISTRY[cls.key] = cls
    return cls


def get_channel(key) -> Channel:
    try:
        return REGISTRY[key]()
    except KeyError:
        raise UnknownChannel(_("“%(name)s” is not a registered alert channel.")
                             % {"name": key}) from None


def channel_choices():
    return [(key, cls.label) for key, cls in REGISTRY.items()]
