"""Admin forms of action flows: the flow (secrets write-only, alert channels from the channel
registry), its steps as an ordered inline whose formset checks the steps together with
`definition.check_steps` — the same check the REST API runs — and the small forms of the
"Run now" and "Create from template" pages."""
import json

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext as _
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy

from integration.admin.fields import SecretField
from integration.events import check_json, refusal
from integration.models import Workflow
from integration.notify import channel_choices, validate_channel_keys
from integration.secrets import mask
from integration.vocabulary import Moment

from .definition import check_steps
from .flow_templates import template_choices
from .models import ActionFlow, FlowStep
from .steps import step_choices

BLANK = [("", "---------")]
# Settings, inputs and filters are never this deep; deeper JSON would only exhaust the
# recursion of the encoders and checks that walk it.
MAX_DEPTH = 32


def too_deep(value, limit=MAX_DEPTH):
    """Whether a JSON value nests objects and lists more than `limit` levels (walked without
    recursion, so any depth is measured safely)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def depth_message():
    return _("Nested too deeply: at most %(n)d levels.") % {"n": MAX_DEPTH}


class BoundedJSONField(forms.JSONField):
    def to_python(self, value):
        value = super().to_python(value)
        if too_deep(value):  # first: check_json walks it recursively
            raise ValidationError(depth_message(), code="too_deep")
        if problem := refusal(check_json, value):  # what jsonb refuses: NUL, surrogates, 1e400
            raise ValidationError(problem, code="invalid")
        return value

    def prepare_value(self, value):
        text = super().prepare_value(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate, refused above and shown again: written as an escape, as it
            # was sent, or the page itself cannot be encoded (a 500).
            text = json.dumps(value, cls=self.encoder)
        return text
JSON_ATTRS = {"class": "vLargeTextField flow-json", "rows": 8, "spellcheck": "false"}


def masked_secrets(text):
    """The flow's secrets as {name: mask}, for display; {} when none or unreadable."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(name): mask(str(secret)) for name, secret in value.items()}


class ActionFlowForm(forms.ModelForm):
    secrets = SecretField(
        label=capfirst(gettext_lazy("secrets")), attrs={"class": "vLargeTextField"},
        help_text=gettext_lazy(
            'A JSON object of names and values steps use as {{ secrets.<name> }}, e.g. '
            '{"erp_token": "…"}. Stored encrypted and never shown again: leave blank to keep '
            'the stored ones, write {} to remove them all.'))
    alert_channels = forms.MultipleChoiceField(
        label=capfirst(gettext_lazy("alert channels")), required=False, choices=channel_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("Where to tell the persons and roles below when a run fails "
                               "(once per run and channel)."))

    class Meta:
        model = ActionFlow
        fields = "__all__"
        field_classes = {"record_filter": BoundedJSONField}
        widgets = {"record_filter": forms.Textarea(attrs={**JSON_ATTRS, "rows": 4}),
                   "description": forms.Textarea(attrs={"rows": 2, "class": "vLargeTextField"})}

    def clean_alert_channels(self):
        return validate_channel_keys(self.cleaned_data.get("alert_channels") or [])

    def clean_record_filter(self):
        # An emptied textarea means "no conditions", not a missing value.
        value = self.cleaned_data.get("record_filter")
        return [] if value in (None, "") else value

    def clean_secrets(self):
        value = self.cleaned_data.get("secrets") or ""
        if not value:
            # Blank keeps what is stored: the field never shows it, so blank is "unchanged".
            return self.instance.secrets if self.instance.pk else ""
        # The model checks the shape; a stored "{}" is the same as none.
        return "" if value.replace(" ", "") == "{}" else value


class StepForm(forms.ModelForm):
    kind = forms.ChoiceField(label=capfirst(gettext_lazy("kind")),
                             choices=lambda: BLANK + step_choices())

    class Meta:
        model = FlowStep
        fields = ["order", "key", "name", "kind", "config", "tries", "retry_wait", "on_failure"]
        field_classes = {"config": BoundedJSONField}
        widgets = {"config": forms.Textarea(attrs=JSON_ATTRS),
                   "order": forms.NumberInput(attrs={"class": "vSmallIntegerField",
                                                     "style": "width: 5em"})}


class StepFormSet(BaseInlineFormSet):
    """Checks the steps as one definition before anything is saved: a reference to a missing
    or later step, an arm naming an earlier step, settings a kind cannot work with. The
    problems are shown at each step and, naming the step, above the steps."""

    def ordered_forms(self):
        """The kept step forms in the order the saved flow will have: by order, then saved
        steps before new ones (definition.build sorts by order and id), then as listed."""
        kept = [(index, form) for index, form in enumerate(self.forms)
                if form.has_changed() or form.instance.pk]
        kept = [(index, form) for index, form in kept
                if not (self.can_delete and self._should_delete_form(form))]
        big = 1 << 62
        return [form for index, form in sorted(kept, key=lambda item: (
            item[1].cleaned_data.get("order") or 0,
            item[1].instance.pk or big + item[0]))]

    def clean(self):
        super().clean()
        if any(form.errors for form in self.forms):
            return  # each row says what is wrong with it first
        forms_in_order = self.ordered_forms()
        steps = [{name: form.cleaned_data.get(name) for name in
                  ("key", "name", "kind", "config", "tries", "retry_wait", "on_failure")}
                 for form in forms_in_order]
        problems = check_steps(steps)
        if not problems:
            return
        summary = []
        for index, messages in sorted(problems.items()):
            form = forms_in_order[index]
            step = steps[index]
            for message in messages:
                form.add_error(None, message)
                summary.append(_("Step %(n)d “%(key)s”: %(message)s") % {
                    "n": index + 1, "key": step["key"], "message": message})
        raise ValidationError(summary)


class RunForm(forms.Form):
    input = BoundedJSONField(
        label=capfirst(gettext_lazy("input")), initial=dict, required=False,
        widget=forms.Textarea(attrs=JSON_ATTRS),
        help_text=gettext_lazy("A JSON object: steps read it as {{ input.<name> }}, and "
                               "{{ record.<name> }} reads its “record” object (or the input "
                               "itself when it has none)."))
    wait = forms.BooleanField(
        label=capfirst(gettext_lazy("run here and wait for the outcome")), required=False,
        help_text=gettext_lazy("Otherwise a worker runs it (the flows queue) and the run's "
                               "page shows it as it goes."))

    def clean_input(self):
        value = self.cleaned_data.get("input")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise ValidationError(_("Write a JSON object, e.g. {\"request_id\": \"1001\"}."))
        return value


class TemplateForm(forms.Form):
    template = forms.ChoiceField(label=capfirst(gettext_lazy("template")),
                                 choices=lambda: BLANK + template_choices())
    name = forms.CharField(label=capfirst(gettext_lazy("name")),
                           max_length=ActionFlow._meta.get_field("name").max_length)
    workflow = forms.ModelChoiceField(
        label=capfirst(gettext_lazy("workflow")), queryset=Workflow.objects.all(), required=False,
        help_text=gettext_lazy("For a workflow-triggered template: the workflow whose requests "
                               "start the flow."))
    node_name = forms.CharField(label=capfirst(gettext_lazy("node")), max_length=200,
                                required=False,
                                help_text=ActionFlow._meta.get_field("node_name").help_text)
    moment = forms.ChoiceField(label=capfirst(gettext_lazy("moment")), required=False,
                               choices=BLANK + list(Moment.choices))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Built per form: the widget reads the request's language for its search box.
        field = self.fields["workflow"]
        field.widget = AutocompleteSelect(ActionFlow._meta.get_field("workflow"), admin.site)
        field.widget.choices = field.choices

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if ActionFlow.objects.filter(name=name).exists():
            raise ValidationError(_("An action flow named “%(name)s” exists already.")
                                  % {"name": name})
        return name

    def trigger_overrides(self):
        """Only what was filled in: the template's own trigger settings stand otherwise."""
        return {name: self.cleaned_data[name] for name in ("workflow", "node_name", "moment")
                if self.cleaned_data.get(name)}
