"""WeCom (企业微信) application messages.

Token: GET {base}/cgi-bin/gettoken?corpid=&corpsecret= → {"errcode": 0, "access_token",
"expires_in"}, cached (shared through Django's cache) until shortly before it expires; an
answer saying the token expired or is invalid refreshes it once and repeats the call.
Message: POST {base}/cgi-bin/message/send?access_token= with
{"touser": "a|b", "msgtype": "text", "agentid": N, "text": {"content": …}}; errcode 0 is
success, and "invaliduser" lists the ids it could not reach. The base URL is configurable
for a private deployment or a proxy (default https://qyapi.weixin.qq.com).
"""
import hashlib

from django.core.cache import cache
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .base import Provider, ProviderError, SendResult, register

# -- vendor vocabulary -----------------------------------------------------------------------
TOKEN_EXPIRED = {40014, 42001}           # invalid access_token, access_token expired
TRANSIENT = {-1, 45009, 45033}           # system busy, API rate limit, too many concurrent calls
MAX_USERS = 1000                          # touser holds at most 1000 ids
MAX_CONTENT_BYTES = 2048                  # a text message's content, in UTF-8 bytes
TOKEN_MARGIN = 300                        # renew this many seconds before expires_in


@register
class WeCom(Provider):
    key = "wecom"
    label = gettext_lazy("WeCom (企业微信) app message")
    default_base_url = "https://qyapi.weixin.qq.com"

    @classmethod
    def check_account(cls, account):
        errors = {}
        if not account.corp_id:
            errors["corp_id"] = _("WeCom needs the corp id (corpid).")
        if not str(account.agent_id or "").isdigit():
            errors["agent_id"] = _("WeCom's agent id (AgentId) is a number.")
        if not account.secret:
            errors["secret"] = _("WeCom needs the application's secret (corpsecret).")
        return errors

    # -- token -------------------------------------------------------------------------------
    def _cache_key(self):
        who = f"{self.base_url}|{self.account.corp_id}|{self.account.secret}"
        return "im:wecom:token:" + hashlib.sha256(who.encode()).hexdigest()[:40]

    def token(self, fresh=False):
        key = self._cache_key()
        if not fresh:
            cached = cache.get(key)
            if cached:
                return cached
        data = self.http("GET", f"{self.base_url}/cgi-bin/gettoken",
                         params={"corpid": self.account.corp_id,
                                 "corpsecret": self.account.secret})
        code = _code(data)
        if code != 0 or not data.get("access_token"):
            raise ProviderError(
                _("WeCom refused the access token request: %(code)s %(message)s")
                % {"code": code, "message": data.get("errmsg", "")},
                permanent=code not in TRANSIENT, code=code)
        expires = _int(data.get("expires_in"), 7200)
        cache.set(key, data["access_token"], max(60, expires - TOKEN_MARGIN))
        return data["access_token"]

    def call(self, path, payload):
        """POST with the cached token; a token the server calls expired is renewed once."""
        for fresh in (False, True):
            token = self.token(fresh=fresh)
            data = self.http("POST", f"{self.base_url}{path}",
                             params={"access_token": token}, json=payload)
            code = _code(data)
            if code in TOKEN_EXPIRED and not fresh:
                cache.delete(self._cache_key())
                continue
            if code != 0:
                raise ProviderError(_("WeCom answered %(code)s: %(message)s")
                                    % {"code": code, "message": data.get("errmsg", "")},
                                    permanent=code not in TRANSIENT, code=code,
                                    response=str(data)[:2000])
            return data
        raise AssertionError("unreachable")

    # -- messaging ---------------------------------------------------------------------------
    def send_text(self, user_ids, content):
        if not user_ids:
            raise ProviderError(_("No recipient has a WeCom user id."), permanent=True)
        content = _truncate(content, MAX_CONTENT_BYTES)
        result = SendResult()
        for start in range(0, len(user_ids), MAX_USERS):
            data = self.call("/cgi-bin/message/send", {
                "touser": "|".join(user_ids[start:start + MAX_USERS]),
                "msgtype": "text",
                "agentid": int(self.account.agent_id),
                "text": {"content": content},
            })
            result.message_id = data.get("msgid", result.message_id)
            result.invalid_users += [u for u in str(data.get("invaliduser") or "").split("|") if u]
            result.response = str(data)[:2000]
        return result

    def test_connection(self):
        self.token(fresh=True)
        return _("WeCom gave an access token for corp id %(corp)s.") % {
            "corp": self.account.corp_id}


def _code(data):
    return _int(data.get("errcode"), 0)


def _int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _truncate(text, limit):
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit - 3].decode("utf-8", errors="ignore") + "…"
