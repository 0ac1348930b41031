"""Email alerts through Django's mail (EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER,
EMAIL_HOST_PASSWORD, EMAIL_USE_TLS / EMAIL_USE_SSL, EMAIL_TIMEOUT, DEFAULT_FROM_EMAIL).

One message to every recipient with an email address: one SMTP transaction, so a retry after
a failure never leaves some recipients with two copies."""
import smtplib
import socket

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .base import Channel, ChannelError, register

DEFAULT_TIMEOUT = 15  # seconds; Django's own default is to wait forever


@register
class EmailChannel(Channel):
    key = "email"
    label = gettext_lazy("Email")
    address_label = gettext_lazy("an email address")
    uses_custom_text = True

    def address(self, person):
        return person.email

    def deliver(self, addressed, subject, content):
        timeout = getattr(settings, "EMAIL_TIMEOUT", None) or DEFAULT_TIMEOUT
        message = EmailMessage(
            subject=" ".join(subject.split()),  # a header: no line breaks
            body=content,
            from_email=getattr(settings, "DEFAULT_FROM_EMAIL", None),
            to=[address for _person, address in addressed],
        )
        try:
            with get_connection(fail_silently=False, timeout=timeout) as connection:
                connection.send_messages([message])
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelError(_("The mail server refused our login: %(error)s")
                               % {"error": _smtp_text(exc)}, permanent=True) from None
        except smtplib.SMTPRecipientsRefused:
            raise ChannelError(_("The mail server refused every recipient."),
                               permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            raise ChannelError(_("The mail server answered %(code)s: %(error)s")
                               % {"code": exc.smtp_code, "error": _smtp_text(exc)},
                               permanent=500 <= exc.smtp_code < 600) from None
        except (smtplib.SMTPException, socket.timeout, OSError) as exc:
            raise ChannelError(_("Cannot send mail through %(host)s:%(port)s: %(error)s")
                               % {"host": settings.EMAIL_HOST, "port": settings.EMAIL_PORT,
                                  "error": str(exc)[:200] or type(exc).__name__}) from None
        return [person for person, _address in addressed]


def _smtp_text(exc):
    error = getattr(exc, "smtp_error", b"")
    return error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
