"""HTTP request step: calls an external system with mapped inputs and maps its JSON answer
to outputs. One session per worker process, so calls to the same host reuse connections.

Outputs: `status_code`, `body` (the JSON answer, or its text), `ok`, and one output per
entry of `outputs` ({"name": "dotted.path.in.answer"}). Timeouts, refused connections, 5xx,
408 and 429 are transient (the step's tries apply); other 4xx are permanent. With `success`
({"path": "code", "value": "0"}) a 2xx answer whose field differs fails the step too.
"""
import requests
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from integration.http import short_error
from integration.jsonpath import dig

from .base import Step, StepFailed, StepResult, register

_session = None


def session():
    global _session
    if _session is None:
        _session = requests.Session()
    return _session


class SuccessRule(serializers.Serializer):
    path = serializers.CharField(max_length=200)
    value = serializers.CharField(max_length=200, allow_blank=True)


class HttpConfig(serializers.Serializer):
    method = serializers.ChoiceField(choices=["GET", "POST", "PUT", "PATCH", "DELETE"],
                                     default="POST")
    url = serializers.CharField(max_length=2000)
    headers = serializers.DictField(child=serializers.CharField(allow_blank=True),
                                    default=dict)
    query = serializers.DictField(default=dict)
    body_type = serializers.ChoiceField(choices=["json", "form", "text", "none"],
                                        default="json")
    body = serializers.JSONField(required=False, allow_null=True)
    timeout = serializers.IntegerField(min_value=1, max_value=120, default=15)
    outputs = serializers.DictField(child=serializers.CharField(max_length=200), default=dict)
    success = SuccessRule(required=False)


@register
class HttpRequest(Step):
    kind = "http"
    label = gettext_lazy("HTTP request")
    description = gettext_lazy("Calls an external system; outputs status_code, body, ok and "
                               "the answer fields named under “outputs”.")
    example = {"method": "POST", "url": "https://erp.example.com/api/risk/{{ input.request_id }}",
               "headers": {"Authorization": "Bearer {{ secrets.erp_token }}"},
               "body_type": "json", "body": {"title": "{{ record.title }}"},
               "outputs": {"ticket": "data.id"}, "success": {"path": "code", "value": "0"}}
    Config = HttpConfig

    def run(self, settings, runtime):
        url = str(settings.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise StepFailed(_("The URL must start with http:// or https://: %(url)s")
                             % {"url": url[:200]})
        kwargs = {"headers": {k: str(v) for k, v in (settings.get("headers") or {}).items()},
                  "params": {k: "" if v is None else str(v)
                             for k, v in (settings.get("query") or {}).items()},
                  "timeout": (min(5, runtime.remaining(5)),
                              runtime.remaining(settings.get("timeout") or 15))}
        body, body_type = settings.get("body"), settings.get("body_type", "json")
        if body_type == "json" and body is not None:
            kwargs["json"] = body
        elif body_type == "form" and body is not None:
            if not isinstance(body, dict):
                raise StepFailed(_("A form body must be an object of fields."))
            kwargs["data"] = {k: "" if v is None else str(v) for k, v in body.items()}
        elif body_type == "text" and body is not None:
            kwargs["data"] = str(body).encode("utf-8")
        try:
            response = session().request(settings.get("method", "POST"), url, **kwargs)
        except requests.Timeout:
            raise StepFailed(_("Timed out waiting for %(url)s.") % {"url": url[:200]},
                             transient=True) from None
        except requests.ConnectionError:
            raise StepFailed(_("Cannot connect to %(url)s.") % {"url": url[:200]},
                             transient=True) from None
        except requests.RequestException as exc:
            raise StepFailed(short_error(exc)) from None
        try:
            answer = response.json()
        except ValueError:
            answer = response.text[:20000]
        output = {"status_code": response.status_code, "body": answer,
                  "ok": 200 <= response.status_code < 300}
        for name, path in (settings.get("outputs") or {}).items():
            output[name] = dig(answer, path)
        status = response.status_code
        if status >= 400:
            raise StepFailed(_("The system answered HTTP %(status)d.") % {"status": status},
                             transient=status >= 500 or status in (408, 429), output=output)
        rule = settings.get("success")
        if rule and rule.get("path"):
            found = dig(answer, rule["path"])
            if str(found) != str(rule.get("value", "")):
                raise StepFailed(_("The answer's %(path)s is %(found)s, not %(want)s.")
                                 % {"path": rule["path"], "found": found,
                                    "want": rule.get("value", "")}, output=output)
        return StepResult(output=output)
