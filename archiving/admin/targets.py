"""Admin of archive targets. The form holds every registered kind's parameters, one section
per kind (each field named "<kind>__<parameter>"); only the chosen kind's section is read and
validated, by the kind's own schema (the one the API uses). The token is write-only: a
password field that never renders it, blank keeps the stored value, a mask shows one is set."""
from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import fields as drf

from integration.admin.fields import SecretField
from integration.http import without_credentials

from ..api.targets import check_connection
from ..models import ArchiveTarget
from ..targets import REGISTRY, ParamsInvalid, kind_choices

SEP = "__"
# A connection test waits for the target; one action tests at most this many.
MAX_TESTS = 10


def form_field(field):
    label = str(field.label or field.field_name)
    help_text = str(field.help_text or "")
    default = None if field.default is drf.empty else (
        field.default() if callable(field.default) else field.default)
    # Fields of the kinds not chosen stay empty: the kind's schema says what is required.
    if isinstance(field, drf.BooleanField):
        return forms.BooleanField(label=label, required=False, help_text=help_text,
                                  initial=bool(default))
    if isinstance(field, drf.DictField):
        return forms.JSONField(label=label, required=False, help_text=help_text,
                               initial=default if default is not None else {},
                               widget=forms.Textarea(attrs={"rows": 3}))
    if isinstance(field, drf.ChoiceField):
        return forms.ChoiceField(label=label, required=False, help_text=help_text,
                                 initial=default, choices=[("", "---------"),
                                                           *field.choices.items()])
    return forms.CharField(label=label, required=False, help_text=help_text, initial=default,
                           max_length=getattr(field, "max_length", None), strip=True)


def param_fields():
    return {f"{key}{SEP}{name}": form_field(field)
            for key, cls in REGISTRY.items() for name, field in cls.Params().fields.items()}


class ArchiveTargetFormBase(forms.ModelForm):
    kind = forms.ChoiceField(label=gettext_lazy("kind"), choices=kind_choices)
    secret = SecretField(
        label=gettext_lazy("token"),
        help_text=gettext_lazy("HTTP: the token header's value, e.g. “Bearer …”. Stored "
                               "encrypted and never shown again; when editing, leave blank to "
                               "keep it."))

    class Meta:
        model = ArchiveTarget
        fields = ["name", "kind"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cleaned_params = None
        if self.instance.pk:
            for name, value in (self.instance.params or {}).items():
                key = f"{self.instance.kind}{SEP}{name}"
                if key in self.fields:
                    self.initial[key] = value

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if not kind or kind not in REGISTRY:
            return cleaned
        cls = REGISTRY[kind]
        secret = cleaned.get("secret") or ""
        if not secret and self.instance.pk and self.instance.kind == kind:
            secret = self.instance.secret
        if secret and not cls.secret_label:
            self.add_error("secret", _("This target kind takes no token."))
            return cleaned
        data = {}
        for name, field in cls.Params().fields.items():
            value = cleaned.get(f"{kind}{SEP}{name}")
            if value in (None, "") and not field.required:
                continue  # the kind's default applies
            data[name] = value
        try:
            self.cleaned_params = cls.validate_params(data, secret)
        except ParamsInvalid as exc:
            for name, problems in exc.errors.items():
                key = f"{kind}{SEP}{name}"
                self.add_error(key if key in self.fields else None, problems)
        else:
            # The model's clean() runs next (ModelForm) and validates the same way.
            self.instance.params, self.instance.secret = self.cleaned_params, secret
        cleaned["secret"] = secret
        return cleaned

    def _update_errors(self, errors):
        # The model reports parameter and token problems under "params" and "secret"; this
        # form already showed them on the kind's own fields, by the same validation.
        if hasattr(errors, "error_dict"):
            for key in ("params", "secret"):
                errors.error_dict.pop(key, None)
        super()._update_errors(errors)

    def save(self, commit=True):
        self.instance.params = self.cleaned_params or {}
        self.instance.secret = self.cleaned_data.get("secret", "")
        return super().save(commit)


ArchiveTargetForm = type("ArchiveTargetForm", (ArchiveTargetFormBase,), param_fields())


@admin.register(ArchiveTarget)
class ArchiveTargetAdmin(admin.ModelAdmin):
    form = ArchiveTargetForm
    list_display = ["name", "kind_display", "where", "secret_masked", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["name"]
    readonly_fields = ["secret_masked"]
    actions = ["test_connections"]

    def get_fieldsets(self, request, obj=None):
        sets = [(None, {"fields": ["name", "kind"]})]
        for key, cls in REGISTRY.items():
            sets.append((cls.label, {
                "fields": [f"{key}{SEP}{name}" for name in cls.Params().fields],
                "description": _("Read when the kind is “%(kind)s”.") % {"kind": cls.label},
            }))
        sets.append((gettext_lazy("Token"), {
            "fields": ["secret", "secret_masked"],
            "description": gettext_lazy("Only kinds that authenticate use it (HTTP)."),
        }))
        return sets

    @admin.display(description=gettext_lazy("kind"), ordering="kind")
    def kind_display(self, obj):
        return obj.kind_label()

    @admin.display(description=gettext_lazy("address"))
    def where(self, obj):
        params = obj.params or {}
        return without_credentials(params.get("url") or "") or params.get("base_dir") or "—"

    @admin.display(description=gettext_lazy("token"))
    def secret_masked(self, obj):
        return obj.masked_secret() if obj and obj.pk and obj.secret else "—"

    @admin.action(description=gettext_lazy("Test connection of selected archive targets"),
                  permissions=["change"])
    def test_connections(self, request, queryset):
        targets = list(queryset.order_by("pk")[:MAX_TESTS + 1])
        if len(targets) > MAX_TESTS:
            self.message_user(request, _("Select at most %(max)d targets to test at once.")
                              % {"max": MAX_TESTS}, messages.ERROR)
            return
        for target in targets:
            result = check_connection(target)
            values = {"target": target, "message": result.message}
            if result.ok:
                self.message_user(request, _("%(target)s: %(message)s") % values,
                                  messages.SUCCESS)
            else:
                self.message_user(request, _("%(target)s: connection test failed: %(message)s")
                                  % values, messages.ERROR)
