"""`http`: an archive system that takes the package as a multipart upload.

One POST to `url` with the zip under `file_field` (default "file", content type
application/zip) and these form fields: `scheme_id`, `request_id`, `workflow_id`, `sha256`,
`size`, `file_name`, then `extra_fields` (fixed values; `{scheme_id}`, `{request_id}`,
`{workflow_id}` and `{sha256}` inside them are replaced). An `Idempotency-Key` header
(`archive-job-<job id>` for automatic archiving, `archive-<log id>` otherwise) stays the same
across retries of one export, so the archive system can drop a repeat; the token, when set, goes
in `token_header`.

The answer: HTTP 2xx is needed. Without `success_path`, any 2xx is success. With it, the JSON
answer's value at that dotted path ("code", "result.status") must equal `success_value`
("0", "true", "OK"); otherwise the archive system refused the package (permanent), and
`message_path` says where its reason is. Timeouts, refused connections, an answer cut off,
HTTP 5xx, 408 and 429 are transient; other 4xx are permanent. Redirects are not followed: a
POST sent on after a 301/302/303 becomes a GET (an SSO login page answering 200 would read as
archived while nothing was stored) and would carry the token to another address, so a 3xx is a
permanent failure naming where it pointed.
"""
import json
import re

import requests
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from integration.http import short_error
from integration.jsonpath import lookup

from .. import conf
from .base import Delivery, TargetError, TargetKind, register

TRANSIENT_STATUSES = {408, 429}
STANDARD_FIELDS = ("scheme_id", "request_id", "workflow_id", "sha256", "size", "file_name")
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_FIELD = re.compile(r"^[A-Za-z0-9_.\-\[\]]+$")
_PATH = re.compile(r"^[^.\s][^\s]*$")


def _timeout():
    return (conf.get("ARCHIVE_CONNECT_TIMEOUT"), conf.get("ARCHIVE_READ_TIMEOUT"))


class HttpParams(serializers.Serializer):
    url = serializers.URLField(
        label=gettext_lazy("upload URL"), max_length=500,
        help_text=gettext_lazy("The archive system's upload address (http or https)."))
    file_field = serializers.RegexField(
        _FIELD, label=gettext_lazy("file field"), max_length=100, default="file",
        help_text=gettext_lazy("The multipart field that carries the zip."))
    token_header = serializers.RegexField(
        _HEADER, label=gettext_lazy("token header"), max_length=100, required=False,
        allow_blank=True, default="",
        help_text=gettext_lazy("Optional, e.g. “Authorization” or “X-Token”: the header that "
                               "carries the token."))
    extra_fields = serializers.DictField(
        label=gettext_lazy("extra form fields"), child=serializers.CharField(
            allow_blank=True, max_length=2000), required=False, default=dict,
        help_text=gettext_lazy("A JSON object of further form fields, e.g. {\"fondsCode\": "
                               "\"F001\"}. {scheme_id}, {request_id}, {workflow_id} and "
                               "{sha256} are replaced."))
    success_path = serializers.RegexField(
        _PATH, label=gettext_lazy("success field"), max_length=200, required=False,
        allow_blank=True, default="",
        help_text=gettext_lazy("Optional dotted path in the JSON answer, e.g. “code” or "
                               "“result.status”. Empty: any HTTP 2xx answer is success."))
    success_value = serializers.CharField(
        label=gettext_lazy("success value"), max_length=200, required=False, allow_blank=True,
        default="",
        help_text=gettext_lazy("The value of the success field that means archived, e.g. "
                               "“0”, “200”, “true”."))
    message_path = serializers.RegexField(
        _PATH, label=gettext_lazy("message field"), max_length=200, required=False,
        allow_blank=True, default="",
        help_text=gettext_lazy("Optional dotted path of the archive system's message in the "
                               "JSON answer, shown in the archive log on a refusal."))

    def validate_url(self, value):
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError(_("Use an http or https address."))
        return value

    def validate_extra_fields(self, value):
        bad = [name for name in value if not _FIELD.match(name)]
        if bad:
            raise serializers.ValidationError(
                _("Field names may hold letters, digits, “_”, “.”, “-” and brackets: %(names)s.")
                % {"names": ", ".join(sorted(bad))})
        clash = sorted(set(value) & set(STANDARD_FIELDS))
        if clash:
            raise serializers.ValidationError(
                _("These fields are always sent by the console: %(names)s.")
                % {"names": ", ".join(clash)})
        return value

    def validate(self, attrs):
        if attrs.get("success_path") and not attrs.get("success_value"):
            raise serializers.ValidationError(
                {"success_value": _("Say which value of the success field means archived.")})
        if attrs.get("file_field") in (attrs.get("extra_fields") or {}):
            raise serializers.ValidationError(
                {"extra_fields": _("An extra field has the file field's name.")})
        return attrs


def same(value, expected):
    """Whether a JSON value reads as the configured text: true/false/null as JSON spells them,
    numbers and strings as text."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value) == expected.strip().lower()
    return str(value).strip() == expected.strip()


@register
class HttpTarget(TargetKind):
    key = "http"
    label = gettext_lazy("HTTP archive system (multipart upload)")
    description = gettext_lazy("POSTs the package as multipart/form-data.")
    Params = HttpParams
    secret_label = gettext_lazy("token")
    secret_help = gettext_lazy("The token header's value, e.g. “Bearer …”.")

    @classmethod
    def check(cls, params, secret):
        if secret and not params.get("token_header"):
            return {"token_header": _("Name the header that carries the token.")}
        return {}

    def headers(self):
        headers = {"User-Agent": "oa-integration-console/1"}
        if self.params.get("token_header") and self.secret:
            headers[self.params["token_header"]] = self.secret
        return headers

    def call(self, method, **kwargs):
        url = self.params["url"]
        try:
            return requests.request(method, url, timeout=_timeout(), allow_redirects=False,
                                    **kwargs)
        except requests.Timeout:
            raise TargetError(_("Timed out waiting for %(url)s.") % {"url": url}) from None
        except requests.ConnectionError as exc:
            raise TargetError(_("Cannot connect to %(url)s: %(error)s")
                              % {"url": url, "error": short_error(exc)}) from None
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            # Cut off mid-answer: the archive system may or may not have stored the package;
            # sending it again with the same idempotency key is safe and needed.
            raise TargetError(_("The answer from %(url)s broke off: %(error)s")
                              % {"url": url, "error": short_error(exc)}) from None
        except requests.RequestException as exc:
            raise TargetError(short_error(exc), permanent=True) from None

    def deliver(self, package, idempotency_key=""):
        replacements = {"{scheme_id}": str(package.scheme_id), "{request_id}": package.request_id,
                        "{workflow_id}": package.workflow_id, "{sha256}": package.checksum}
        fields = {"scheme_id": str(package.scheme_id), "request_id": package.request_id,
                  "workflow_id": package.workflow_id, "sha256": package.checksum,
                  "size": str(package.size), "file_name": package.file_name}
        for name, value in sorted((self.params.get("extra_fields") or {}).items()):
            for token, text in replacements.items():
                value = value.replace(token, text)
            fields[name] = value
        headers = self.headers()
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = self.call(
            "POST", data=fields, headers=headers,
            files={self.params.get("file_field") or "file":
                   (package.file_name, package.content, "application/zip")})
        return self.judge(response)

    def refuse_redirect(self, response):
        status = response.status_code
        if 300 <= status < 400:
            raise TargetError(
                _("The archive system redirected the request (HTTP %(status)d) to %(location)s; "
                  "redirects are not followed: set the target's URL to the final address.")
                % {"status": status,
                   "location": response.headers.get("Location") or _("no address")},
                permanent=True, http_status=status, answer=response.text)

    def judge(self, response):
        status, text = response.status_code, response.text
        self.refuse_redirect(response)
        if status in TRANSIENT_STATUSES or status >= 500:
            raise TargetError(_("The archive system answered HTTP %(status)d.") % {"status": status},
                              http_status=status, answer=text)
        if not 200 <= status < 300:
            raise TargetError(_("The archive system refused the package with HTTP %(status)d.")
                              % {"status": status}, permanent=True, http_status=status,
                              answer=text)
        path = self.params.get("success_path")
        if not path:
            return Delivery(True, _("Archived (HTTP %(status)d).") % {"status": status},
                            answer=text, location=self.params["url"], http_status=status)
        try:
            data = response.json()
        except ValueError:
            raise TargetError(_("The archive system's answer is not JSON."), http_status=status,
                              answer=text) from None
        found, value = lookup(data, path)
        if found and same(value, self.params.get("success_value", "")):
            return Delivery(True, _("Archived: %(path)s is %(value)s.")
                            % {"path": path, "value": json.dumps(value, ensure_ascii=False)},
                            answer=text, location=self.params["url"], http_status=status)
        said = ""
        if self.params.get("message_path"):
            has, message = lookup(data, self.params["message_path"])
            said = str(message) if has and message not in (None, "") else ""
        reason = (_("The archive system refused the package: %(path)s is %(value)s.")
                  % {"path": path,
                     "value": json.dumps(value, ensure_ascii=False) if found else _("absent")})
        if said:
            reason += " " + said
        raise TargetError(reason, permanent=True, http_status=status, answer=text)

    def test_connection(self):
        """A GET of the upload URL with the token: nothing is uploaded. Any answer below 400
        but a redirect (or 405, a URL that only takes POST) shows the address and the token
        work."""
        response = self.call("GET", headers=self.headers())
        self.refuse_redirect(response)
        status = response.status_code
        if status < 400 or status == 405:
            return Delivery(True, _("The archive system answered HTTP %(status)d.")
                            % {"status": status}, answer=response.text, http_status=status)
        if status in (401, 403):
            raise TargetError(_("The archive system refused the token (HTTP %(status)d).")
                              % {"status": status}, permanent=True, http_status=status,
                              answer=response.text)
        raise TargetError(_("The archive system answered HTTP %(status)d.") % {"status": status},
                          permanent=status < 500 and status not in TRANSIENT_STATUSES,
                          http_status=status, answer=response.text)
