"""SMS alerts through an HTTP gateway (integration.models.SmsGateway, the enabled one).

The gateway's JSON body template names the mobile number ({mobile}: one call per number, or
{mobiles}: one call with all of them, comma-separated) and the text ({content}); they are
replaced inside JSON strings, after parsing, so the alert text cannot break the JSON. With
GET the top-level keys go in the query string. An optional header carries a token. Success
is HTTP 2xx and, when a success field is set, that field of the JSON answer equal to the
success value. Timeouts, refused connections, 5xx, 408 and 429 are transient; other 4xx and a
wrong success value are reported as they are, and retried a few times by the alert task."""
import json

import requests
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..http import short_error
from ..jsonpath import dig
from .base import Channel, ChannelError, ChannelResult, register

TIMEOUT = (5, 15)
MAX_CONTENT = 500  # characters; a long SMS is split by the carrier into many and billed so


def render(template, **values):
    """The template with {name} replaced in every string of the parsed JSON."""
    def walk(node):
        if isinstance(node, str):
            for name, value in values.items():
                node = node.replace("{" + name + "}", value)
            return node
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {walk(key): walk(value) for key, value in node.items()}
        return node
    return walk(json.loads(template))


@register
class SmsChannel(Channel):
    key = "sms"
    label = gettext_lazy("SMS")
    address_label = gettext_lazy("a mobile number")
    uses_custom_text = True

    def __init__(self, session=None):
        from ..models import SmsGateway

        self.gateway = SmsGateway.active()
        self.session = session or requests.Session()

    def address(self, person):
        return person.mobile

    def send(self, recipients, subject, content):
        if self.gateway is None:
            return ChannelResult(False, _("No enabled SMS gateway."), permanent=True)
        return super().send(recipients, subject, content)

    def deliver(self, addressed, subject, content):
        text = content if len(content) <= MAX_CONTENT else content[:MAX_CONTENT - 1] + "…"
        if "{mobiles}" in self.gateway.body_template:
            self.call(render(self.gateway.body_template, content=text,
                             mobiles=",".join(address for _person, address in addressed)))
            return [person for person, _address in addressed]
        reached = []
        for person, address in addressed:
            try:
                self.call(render(self.gateway.body_template, content=text, mobile=address))
            except ChannelError as exc:
                exc.reached = reached
                raise
            reached.append(person)
        return reached

    def call(self, body):
        gateway = self.gateway
        headers = {gateway.token_header: gateway.token} if gateway.token_header else {}
        kwargs = {"params": body} if gateway.method == "GET" else {"json": body}
        try:
            response = self.session.request(gateway.method, gateway.url, headers=headers,
                                            timeout=TIMEOUT, **kwargs)
        except requests.Timeout:
            raise ChannelError(_("The SMS gateway did not answer in time.")) from None
        except requests.ConnectionError:
            raise ChannelError(_("Cannot connect to the SMS gateway.")) from None
        except requests.RequestException as exc:
            raise ChannelError(short_error(exc), permanent=True) from None
        status = response.status_code
        if status >= 400:
            raise ChannelError(_("The SMS gateway answered HTTP %(status)d: %(body)s")
                               % {"status": status, "body": response.text[:200]},
                               permanent=not (status >= 500 or status in (408, 429)))
        if gateway.success_field:
            try:
                value = dig(response.json(), gateway.success_field)
            except ValueError:
                value = None
            if value is None or str(value) != gateway.success_value:
                raise ChannelError(_("The SMS gateway did not confirm: %(body)s")
                                   % {"body": response.text[:200]})
