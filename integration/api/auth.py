"""Token authentication against ApiToken: the same header as DRF's (`Authorization: Token
<key>`), so clients need no change, but the key is looked up by its digest, never stored."""
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from ..models import ApiToken


class ApiTokenAuthentication(authentication.TokenAuthentication):
    model = ApiToken

    def authenticate_credentials(self, key):
        try:
            token = ApiToken.objects.by_key(key)
        except ApiToken.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token.record_use()
        return token.user, token
