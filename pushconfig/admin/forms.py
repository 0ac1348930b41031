"""Admin forms of push configs: the push type's parameters as real form fields, generated from
its `Params` serializer, and validated by `pushconfig.params.validate_params` (the same
function the API uses). The form is built per request for one push type; choosing another
reloads the page (`?push_type=…`), and a form posted for another type than the one it showed
is refused with a note, so parameters are never saved unseen."""
from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import fields as drf

from integration.admin.fields import SecretField
from integration.notify import channel_choices, validate_channel_keys
from integration.secrets import mask
from integration.vocabulary import BUSINESS_STATUSES_BY_DATA_SET, DataSet

from ..models import PushConfig
from ..params import ParamsInvalid, store_params, stored_class, validate_params
from ..transports import CUSTOM, custom_choices, push_type_choices

PARAM = "param_"
STATUSES = "statuses_"
BLANK = [("", "---------")]


def url_field(db_field, **kwargs):
    """Model fields as form fields; a URL typed without a scheme gets https:// (the seed:
    "E10的地址前缀选择https://")."""
    from django.db import models

    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


def marker(push_type, implementation):
    """Which push type a page's parameter fields were drawn for."""
    return f"{push_type}:{implementation if push_type == CUSTOM else ''}"


def status_fields():
    """One multiple-choice field per data set, holding the business statuses of that set."""
    return {
        STATUSES + data_set: forms.MultipleChoiceField(
            label=DataSet(data_set).label, required=False, widget=forms.CheckboxSelectMultiple,
            choices=[(status.value, status.label) for status in statuses],
        )
        for data_set, statuses in BUSINESS_STATUSES_BY_DATA_SET.items()
    }


def param_fields(cls, stored_secrets=()):
    """Form fields for the parameters of a push type class, keyed "param_<name>".
    `stored_secrets` maps each secret already set to its plain value (shown masked)."""
    if cls is None:
        return {}
    stored_secrets = dict(stored_secrets)
    result = {}
    for name, field in cls.Params().fields.items():
        result[PARAM + name] = _form_field(name, field, name in cls.secret_params,
                                           stored_secrets.get(name))
    return result


def _form_field(name, field, secret, current):
    label = str(field.label or name)
    help_text = str(field.help_text or "")
    default = None if field.default is drf.empty or callable(field.default) else field.default
    if secret:
        note = (_("Stored encrypted; currently set: %(mask)s. Leave blank to keep it.")
                % {"mask": mask(current)} if current
                else _("Stored encrypted and never shown again."))
        return SecretField(label=label, required=bool(field.required and not current),
                           help_text=f"{help_text} {note}".strip())
    if isinstance(field, drf.BooleanField):
        return forms.BooleanField(label=label, required=False, help_text=help_text,
                                  initial=bool(default))
    if isinstance(field, drf.MultipleChoiceField):
        return forms.MultipleChoiceField(
            label=label, required=field.required, help_text=help_text, initial=default,
            choices=list(field.choices.items()), widget=forms.CheckboxSelectMultiple)
    if isinstance(field, drf.ChoiceField):
        choices = list(field.choices.items())
        if not field.required:
            choices = BLANK + choices
        return forms.ChoiceField(label=label, required=field.required, help_text=help_text,
                                 initial=default, choices=choices)
    if isinstance(field, drf.IntegerField):
        return forms.IntegerField(label=label, required=field.required, help_text=help_text,
                                  initial=default)
    return forms.CharField(label=label, required=field.required, help_text=help_text,
                           initial=default, strip=True)


def collect_params(form, cls):
    """The posted parameter values, as validate_params expects them: a blank optional value
    is left out, so the push type's default applies."""
    data = {}
    for name, field in cls.Params().fields.items():
        value = form.cleaned_data.get(PARAM + name)
        if value in (None, "") and not field.required and name not in cls.secret_params:
            continue
        data[name] = value
    return data


def apply_param_errors(form, exc):
    for name, messages in exc.errors.items():
        key = PARAM + name
        form.add_error(key if key in form.fields else None, messages)


class PushConfigForm(forms.ModelForm):
    """The base form; the admin derives one per request with the chosen push type's fields."""

    transport_cls = None      # the chosen push type's class, or None until one is chosen
    chosen_push_type = ""
    chosen_implementation = ""

    push_type = forms.ChoiceField(
        label=gettext_lazy("push type"), choices=(),
        help_text=gettext_lazy("Choosing another push type reloads the form with its "
                               "parameters."))
    params_for = forms.CharField(label=gettext_lazy("parameters drawn for"), required=False,
                                 widget=forms.HiddenInput)
    alert_channels = forms.MultipleChoiceField(
        label=gettext_lazy("alert channels"), required=False, widget=forms.CheckboxSelectMultiple,
        choices=channel_choices,
        help_text=gettext_lazy("Where to alert when the breaker opens and when it recovers: one "
                               "alert per channel each time. Custom subject and content apply "
                               "to email and SMS."))

    # Breaker settings: a form posted without them (an older page, a script) keeps the values.
    fuse_threshold = PushConfig._meta.get_field("fuse_threshold").formfield(required=False)
    fuse_cooldown = PushConfig._meta.get_field("fuse_cooldown").formfield(required=False)

    def clean_alert_channels(self):
        return validate_channel_keys(self.cleaned_data.get("alert_channels") or [])

    def clean_fuse_threshold(self):
        return _or_current(self, "fuse_threshold")

    def clean_fuse_cooldown(self):
        return _or_current(self, "fuse_cooldown")

    class Meta:
        model = PushConfig
        exclude = ["params", "intercepted_statuses"]
        formfield_callback = url_field

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.previous_class = stored_class(self.instance)
        self.cleaned_params = None
        self.fields["push_type"].choices = BLANK + push_type_choices()
        current = marker(self.chosen_push_type, self.chosen_implementation)
        if self.is_bound:
            key = self.add_prefix("params_for")
            self.posted_marker = self.data.get(key, "")
            data = self.data.copy()
            data[key] = current  # redrawn for the type now shown
            self.data = data
        else:
            self.initial["params_for"] = current
            self.initial["push_type"] = self.chosen_push_type
            if self.chosen_push_type == CUSTOM:
                self.initial["implementation"] = self.chosen_implementation
        cls = self.transport_cls
        if cls is not None and self.chosen_push_type != CUSTOM:
            self.initial["implementation"] = cls.implementation
        if cls is not None and self.previous_class is cls:
            stored = self.instance.get_params()
            for name in cls.Params().fields:
                if name not in cls.secret_params and name in stored:
                    self.initial[PARAM + name] = stored[name]
        statuses = self.instance.intercepted_statuses or {}
        for data_set in BUSINESS_STATUSES_BY_DATA_SET:
            self.initial.setdefault(STATUSES + data_set, statuses.get(data_set, []))

    def clean(self):
        cleaned = super().clean()
        push_type = cleaned.get("push_type")
        cls = self.transport_cls
        if not push_type or cls is None:
            return cleaned  # the push type or implementation field says what is wrong
        if self.posted_marker != marker(self.chosen_push_type, self.chosen_implementation):
            raise forms.ValidationError(
                _("The push type changed: fill in the parameters of the new push type below "
                  "and save again."), code="push_type_changed")
        if any(key.startswith(PARAM) for key in self.errors):
            return cleaned
        instance = self.instance if self.instance.pk else None
        try:
            self.cleaned_params = validate_params(
                push_type, self.chosen_implementation, collect_params(self, cls), instance)
        except ParamsInvalid as exc:
            apply_param_errors(self, exc)
        except forms.ValidationError as exc:
            self.add_error(None, exc)
        return cleaned

    def save(self, commit=True):
        config = self.instance
        config.intercepted_statuses = {
            data_set: self.cleaned_data[STATUSES + data_set]
            for data_set in BUSINESS_STATUSES_BY_DATA_SET
            if self.cleaned_data.get(STATUSES + data_set)
        }
        store_params(config, self.cleaned_params, self.previous_class)
        return super().save(commit)


def _or_current(form, name):
    """Breaker settings left blank keep their value (the default on a new config)."""
    value = form.cleaned_data.get(name)
    return getattr(form.instance, name) if value is None else value


def build_config_form(base, push_type, implementation, cls, instance=None):
    """A PushConfigForm subclass for one push type: its parameter fields, and an
    implementation field that is a select of registered classes for the custom type."""
    stored = {}
    if instance is not None and stored_class(instance) is cls and cls is not None:
        plain = instance.get_params()
        stored = {name: plain.get(name) for name in cls.secret_params if plain.get(name)}
    attrs = {
        "transport_cls": cls,
        "chosen_push_type": push_type,
        "chosen_implementation": implementation if push_type == CUSTOM else "",
        **param_fields(cls, stored),
        **status_fields(),
    }
    if push_type == CUSTOM:
        attrs["implementation"] = forms.ChoiceField(
            label=gettext_lazy("implementation"), choices=BLANK + custom_choices(),
            help_text=gettext_lazy("A registered custom push class. Choosing another reloads "
                                   "the form with its parameters."))
    else:
        attrs["implementation"] = forms.CharField(
            label=gettext_lazy("implementation"), required=False, disabled=True,
            help_text=gettext_lazy("Filled from the push type."))
    return type(base.__name__, (base,), attrs)


class SuiteForm(forms.ModelForm):
    """Quick creation from a suite: identifier, system name, server URL and the parameters the
    push type lists in `suite_params`; everything else keeps its default (disabled)."""

    transport_cls = None
    chosen_push_type = ""
    chosen_implementation = ""

    class Meta:
        model = PushConfig
        fields = ["identifier", "system_name", "server_url"]
        formfield_callback = url_field

    def clean(self):
        cleaned = super().clean()
        cls = self.transport_cls
        if any(key.startswith(PARAM) for key in self.errors):
            return cleaned
        data = collect_params(self, cls)
        try:
            self.cleaned_params = validate_params(self.chosen_push_type,
                                                  self.chosen_implementation, data)
        except ParamsInvalid as exc:
            apply_param_errors(self, exc)
        return cleaned

    def save(self, commit=True):
        config = self.instance
        config.enabled = False
        store_params(config, self.cleaned_params)
        return super().save(commit)


def build_suite_form(cls, push_type, implementation, with_organization=False):
    fields = param_fields(cls)
    attrs = {
        "transport_cls": cls,
        "chosen_push_type": push_type,
        "chosen_implementation": implementation,
        **{key: field for key, field in fields.items() if key[len(PARAM):] in cls.suite_params},
    }
    meta_fields = ["identifier", "system_name"]
    if with_organization:
        meta_fields.append("organization")
    meta_fields.append("server_url")
    attrs["Meta"] = type("Meta", (SuiteForm.Meta,), {"fields": meta_fields})
    return type("SuiteForm", (SuiteForm,), attrs)
