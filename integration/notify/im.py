"""IM alerts: a text message through the IM provider of the enabled IM account
(integration.models.IMAccount with purpose "im"). The person's IM user id is the field the
account names (login id, work code, mobile or email)."""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..im import ProviderError, UnknownProvider, provider_for
from .base import Channel, ChannelError, ChannelResult, register


@register
class IMChannel(Channel):
    key = "im"
    label = gettext_lazy("IM")
    address_label = gettext_lazy("an IM user id")
    purpose = "im"

    def __init__(self):
        from ..models import IMAccount

        self.account = IMAccount.active(self.purpose)

    def address(self, person):
        return self.account.user_id_of(person)

    def send(self, recipients, subject, content):
        if self.account is None:
            return ChannelResult(False, _("No enabled account for %(channel)s.")
                                 % {"channel": self.label}, permanent=True)
        return super().send(recipients, subject, content)

    def deliver(self, addressed, subject, content):
        try:
            provider = provider_for(self.account)
            result = provider.send_text([address for _person, address in addressed],
                                        f"{subject}\n{content}" if subject else content)
        except UnknownProvider as exc:
            raise ChannelError(str(exc), permanent=True) from None
        except ProviderError as exc:
            raise ChannelError(exc.reason, exc.permanent) from None
        invalid = set(result.invalid_users)
        return [person for person, address in addressed if address not in invalid]

