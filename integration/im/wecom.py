"""WeCom (企业微信) application messages, message cards and group chats (appchat).

Token: GET {base}/cgi-bin/gettoken?corpid=&corpsecret= → {"errcode": 0, "access_token",
"expires_in"}, cached (shared through Django's cache) until shortly before it expires; an
answer saying the token expired or is invalid refreshes it once and repeats the call. Every
POST below goes through `call()`, so group calls get the same cache and the same one refresh.

To persons: POST {base}/cgi-bin/message/send?access_token= with {"touser": "a|b",
"agentid": N, "msgtype": …}; at most 1000 ids per call, "invaliduser" lists the ids it
could not reach.
- "text": {"text": {"content"}}, content ≤ 2048 bytes.
- "textcard" (our Card): {"textcard": {"title", "description", "url", "btntxt"}}; title
  ≤ 128 bytes, description ≤ 512 bytes (both cut here at a UTF-8 boundary, with "…"), url
  required and ≤ 2048 bytes, btntxt ≤ 4 characters (WeCom shows "详情" without it). A card
  without a link is sent as "text" (title, then description) since WeCom refuses a textcard
  without url.

Group chats ("appchat"; only a self-built app whose visible range is the root department may
use them, otherwise 60011; a chat is only seen by the app that created it, otherwise 86008):
- POST /cgi-bin/appchat/create {"name", "owner", "userlist", "chatid"} → {"chatid"}.
  userlist: 2 to 2000 user ids, the owner included (added here when missing; checked before
  calling); name ≤ 50 characters; chatid optional, 1–32 of [0-9a-zA-Z], else WeCom picks one.
  A new chat shows up in members' clients with its first message. Passing our own chatid
  makes a repeated create safe: WeCom answers 86215 instead of making a second chat.
- POST /cgi-bin/appchat/update {"chatid", "name", "owner", "add_user_list",
  "del_user_list"}; only the fields being changed are sent.
- POST /cgi-bin/appchat/send {"chatid", "msgtype": "text" | "textcard", …} with the same
  bodies and limits as to persons.

errcode 0 is success. The base URL is configurable for a private deployment or a proxy
(default https://qyapi.weixin.qq.com).
"""
import hashlib
import re

from django.core.cache import cache
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .base import GROUP, MESSAGE, GroupResult, Provider, ProviderError, SendResult, register

# -- vendor vocabulary -----------------------------------------------------------------------
TOKEN_EXPIRED = {40014, 42001}           # invalid access_token, access_token expired
TRANSIENT = {-1, 45009, 45033}           # system busy, API rate limit, too many concurrent calls
# Every other code is permanent. These are the ones, as documented by WeCom, whose errmsg does
# not tell an operator what to fix; their meaning is added to the error.
MEANINGS = {
    60011: gettext_lazy("the app may not reach these members; group chats need the app's "
                        "visible range to be the root department"),
    86001: gettext_lazy("the group chat id is not valid"),
    86003: gettext_lazy("the group chat does not exist"),
    86004: gettext_lazy("the group chat name is not valid"),
    86005: gettext_lazy("the group chat owner is not valid"),
    86006: gettext_lazy("too many or too few group chat members"),
    86007: gettext_lazy("a group chat member is not valid"),
    86008: gettext_lazy("the group chat was not created by this app"),
    86207: gettext_lazy("the group chat owner is not among its members"),
    86215: gettext_lazy("a group chat with this id already exists"),
    86216: gettext_lazy("a group chat member id is not valid"),
    86217: gettext_lazy("the sender is not a member of the group chat"),
    86220: gettext_lazy("the group chat parameters are not valid"),
}
MAX_USERS = 1000                          # touser holds at most 1000 ids
MAX_CONTENT_BYTES = 2048                  # a text message's content, in UTF-8 bytes
MAX_CARD_TITLE_BYTES = 128
MAX_CARD_DESCRIPTION_BYTES = 512
MAX_CARD_URL_BYTES = 2048
MAX_BUTTON_CHARS = 4
MIN_GROUP_MEMBERS, MAX_GROUP_MEMBERS = 2, 2000   # the owner included
MAX_GROUP_NAME_CHARS = 50
CHAT_ID = re.compile(r"[0-9a-zA-Z]{1,32}")
TOKEN_MARGIN = 300                        # renew this many seconds before expires_in


@register
class WeCom(Provider):
    key = "wecom"
    label = gettext_lazy("WeCom (企业微信) app message")
    default_base_url = "https://qyapi.weixin.qq.com"
    capabilities = frozenset({MESSAGE, GROUP})

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
                values = {"code": code, "message": data.get("errmsg", ""),
                          "meaning": MEANINGS.get(code, "")}
                reason = (_("WeCom answered %(code)s (%(meaning)s): %(message)s") % values
                          if code in MEANINGS else
                          _("WeCom answered %(code)s: %(message)s") % values)
                raise ProviderError(reason, permanent=code not in TRANSIENT, code=code,
                                    response=str(data)[:2000])
            return data
        raise AssertionError("unreachable")

    # -- messages to persons ------------------------------------------------------------------
    def send_text(self, user_ids, content):
        return self._send_to_users(user_ids, "text",
                                   {"content": _truncate(content, MAX_CONTENT_BYTES)})

    def send_card(self, user_ids, card):
        return self._send_to_users(user_ids, *_card_message(card))

    def _send_to_users(self, user_ids, msgtype, body):
        if not user_ids:
            raise ProviderError(_("No recipient has a WeCom user id."), permanent=True)
        result = SendResult()
        for start in range(0, len(user_ids), MAX_USERS):
            data = self.call("/cgi-bin/message/send", {
                "touser": "|".join(user_ids[start:start + MAX_USERS]),
                "msgtype": msgtype,
                "agentid": int(self.account.agent_id),
                msgtype: body,
            })
            result.message_id = data.get("msgid", result.message_id)
            result.invalid_users += [u for u in str(data.get("invaliduser") or "").split("|") if u]
            result.response = str(data)[:2000]
        return result

    # -- group chats -------------------------------------------------------------------------
    def create_group(self, name, owner, members, group_id=""):
        owner = (owner or "").strip()
        userlist = _unique(members)
        if owner and owner not in userlist:
            userlist.insert(0, owner)
        if len(userlist) < MIN_GROUP_MEMBERS:
            raise ProviderError(
                _("A WeCom group chat needs at least %(min)d members, the owner included; "
                  "it would have %(count)d.") % {"min": MIN_GROUP_MEMBERS, "count": len(userlist)},
                permanent=True)
        if len(userlist) > MAX_GROUP_MEMBERS:
            raise ProviderError(
                _("A WeCom group chat has at most %(max)d members, the owner included; "
                  "it would have %(count)d.") % {"max": MAX_GROUP_MEMBERS, "count": len(userlist)},
                permanent=True)
        payload = {"userlist": userlist}
        name = _clip((name or "").strip(), MAX_GROUP_NAME_CHARS)
        if name:
            payload["name"] = name
        if owner:
            payload["owner"] = owner
        if group_id:
            if not CHAT_ID.fullmatch(group_id):
                raise ProviderError(
                    _("A WeCom group chat id is 1 to 32 letters (a-z, A-Z) and digits: "
                      "“%(id)s” is not.") % {"id": group_id}, permanent=True)
            payload["chatid"] = group_id
        data = self.call("/cgi-bin/appchat/create", payload)
        chat_id = str(data.get("chatid") or group_id)
        if not chat_id:
            # The chat exists now; retrying would make a second one, so this is not transient.
            raise ProviderError(_("WeCom created the group chat but did not say its id."),
                                permanent=True, response=str(data)[:2000])
        return GroupResult(group_id=chat_id, response=str(data)[:2000])

    def update_group(self, group_id, *, name=None, owner=None, add_members=(),
                     remove_members=()):
        payload = {"chatid": _chat_id(group_id)}
        if name is not None:
            name = name.strip()
            if not name:
                raise ProviderError(_("A group chat's new name cannot be empty."),
                                    permanent=True)
            payload["name"] = _clip(name, MAX_GROUP_NAME_CHARS)
        if owner is not None:
            owner = owner.strip()
            if not owner:
                raise ProviderError(_("A group chat's new owner cannot be empty."),
                                    permanent=True)
            payload["owner"] = owner
        if add := _unique(add_members):
            payload["add_user_list"] = add
        if remove := _unique(remove_members):
            payload["del_user_list"] = remove
        if len(payload) == 1:
            # Member lists resolved from a record are often empty; that is not an error.
            return ""
        return str(self.call("/cgi-bin/appchat/update", payload))[:2000]

    def send_group_text(self, group_id, content):
        return self._send_to_group(group_id, "text",
                                   {"content": _truncate(content, MAX_CONTENT_BYTES)})

    def send_group_card(self, group_id, card):
        return self._send_to_group(group_id, *_card_message(card))

    def _send_to_group(self, group_id, msgtype, body):
        data = self.call("/cgi-bin/appchat/send",
                         {"chatid": _chat_id(group_id), "msgtype": msgtype, msgtype: body})
        return SendResult(message_id=str(data.get("msgid") or ""), response=str(data)[:2000])

    def test_connection(self):
        self.token(fresh=True)
        return _("WeCom gave an access token for corp id %(corp)s.") % {
            "corp": self.account.corp_id}


def _card_message(card):
    """(msgtype, body) of a card: a textcard, or a text when there is no link to open."""
    title = (card.title or "").strip()
    if not title:
        raise ProviderError(_("A message card needs a title."), permanent=True)
    if not card.url:
        return "text", {"content": _truncate(card.as_text(), MAX_CONTENT_BYTES)}
    if len(card.url.encode("utf-8")) > MAX_CARD_URL_BYTES:
        # Cutting a link would open the wrong page; better to say so.
        raise ProviderError(_("A WeCom card's link is at most %(limit)d bytes; this one has "
                              "%(size)d.") % {"limit": MAX_CARD_URL_BYTES,
                                              "size": len(card.url.encode("utf-8"))},
                            permanent=True)
    body = {"title": _truncate(title, MAX_CARD_TITLE_BYTES),
            "description": _truncate(card.description or "", MAX_CARD_DESCRIPTION_BYTES),
            "url": card.url}
    if button := (card.button_text or "").strip():
        body["btntxt"] = button[:MAX_BUTTON_CHARS]
    return "textcard", body


def _chat_id(group_id):
    group_id = (group_id or "").strip()
    if not group_id:
        raise ProviderError(_("No group chat id was given."), permanent=True)
    return group_id


def _unique(user_ids):
    """Ids in their order, without blanks or repeats, so the member count checked here is
    the one WeCom will see."""
    return list(dict.fromkeys(u.strip() for u in user_ids if u and u.strip()))


def _clip(text, limit):
    return text if len(text) <= limit else text[:limit - 1] + "…"


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
