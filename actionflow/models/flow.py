"""Action flows (动作流): a trigger and an ordered list of steps, saved as numbered versions.

The rows an administrator edits are `ActionFlow` and its `FlowStep`s; every save that changes
what a run would do publishes a `FlowVersion`, a frozen copy of the whole definition. Runs
execute a version, never the live rows, so a run can be repeated exactly as it ran even after
the flow was edited (actionflow.definition builds and checks the copy).
"""
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from integration.secrets import EncryptedTextField
from integration.vocabulary import Moment


class ActionFlow(models.Model):
    class Trigger(models.TextChoices):
        WORKFLOW = "workflow", _("Workflow trigger (流程触发)")
        DATE_FIELD = "date_field", _("Date-field trigger (按日期字段触发)")
        SCHEDULE = "schedule", _("Schedule trigger (定时触发)")
        CALLED = "called", _("Called (ESB push, another flow, manual)")

    class RecordKind(models.TextChoices):
        REQUEST = "request", _("Workflow requests")
        TODO_ITEM = "todo_item", _("Todo items")

    class DelayUnit(models.TextChoices):
        MINUTES = "minutes", _("minutes")
        HOURS = "hours", _("hours")
        DAYS = "days", _("days")

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    enabled = models.BooleanField(_("enabled"), default=False)
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices,
                               default=Trigger.CALLED)
    # -- workflow trigger (and the date-field trigger's optional workflow filter) ----------
    workflow = models.ForeignKey(
        "integration.Workflow", verbose_name=_("workflow"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="action_flows",
        help_text=_("Workflow trigger: the workflow whose requests start the flow. Date-field "
                    "trigger: optional, only records of this workflow."))
    node_name = models.CharField(
        _("node"), max_length=200, blank=True,
        help_text=_("The node's name as the OA sends it. Empty: every node."))
    moment = models.CharField(_("moment"), max_length=8, choices=Moment.choices, blank=True,
                              default=Moment.AFTER)
    before_timeout = models.PositiveSmallIntegerField(
        _("time limit (seconds)"), default=10,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_("“Before the node” flows run while the OA waits for the answer; a run still "
                    "going after this many seconds finishes on a worker."))
    block_on_timeout = models.BooleanField(
        _("stop the node on timeout"), default=False,
        help_text=_("Whether a “before” flow that did not finish in time stops the node (its "
                    "answer says so) or lets the request go on."))
    # -- date-field trigger ----------------------------------------------------------------
    record_kind = models.CharField(_("records"), max_length=16, choices=RecordKind.choices,
                                   blank=True)
    date_field = models.CharField(
        _("date field"), max_length=200, blank=True,
        help_text=_("created_at or last_event_at, or a form field of a request as "
                    "form_data.<field> (dates written yyyy-MM-dd HH:mm:ss or ISO 8601)."))
    delay_amount = models.PositiveIntegerField(
        _("delay"), default=1, validators=[MaxValueValidator(100000)],
        help_text=_("The flow runs for a record once its date plus this delay has passed."))
    delay_unit = models.CharField(_("delay unit"), max_length=8, choices=DelayUnit.choices,
                                  default=DelayUnit.DAYS)
    record_filter = models.JSONField(
        _("record filter"), default=list, blank=True,
        help_text=_('Conditions every record must still match, e.g. [{"field": "data_set", '
                    '"operator": "equals", "value": "todo"}].'))
    # -- schedule trigger ------------------------------------------------------------------
    cron = models.CharField(
        _("cron expression"), max_length=120, blank=True,
        help_text=_("Five fields (minute hour day month weekday) or Quartz (with seconds)."))
    # -- running -----------------------------------------------------------------------------
    operator = models.CharField(
        _("operator"), max_length=64, blank=True,
        help_text=_("Login id of the person the flow acts as: changing an IM group's settings "
                    "is allowed only when this person is the group's owner or an admin."))
    secrets = EncryptedTextField(
        _("secrets"), blank=True,
        help_text=_('A JSON object of values steps use as {{ secrets.<name> }}, e.g. '
                    '{"token": "…"}. Stored encrypted; masked in run logs.'))
    alert_channels = models.JSONField(_("alert channels"), default=list, blank=True)
    alert_persons = models.ManyToManyField(
        "integration.Person", verbose_name=_("alert persons"), blank=True, related_name="+",
        help_text=_("Persons told when a run of this flow fails."))
    alert_roles = models.ManyToManyField("integration.Role", verbose_name=_("alert roles"),
                                         blank=True, related_name="+")
    version = models.PositiveIntegerField(_("version"), default=0, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("action flow")
        verbose_name_plural = _("action flows")
        ordering = ["name"]
        indexes = [models.Index(fields=["trigger", "enabled"], name="flow_trigger_enabled")]

    def __str__(self):
        return self.name

    def current_version(self):
        return self.versions.filter(number=self.version).first()

    def esb_configs(self, name=None):
        """The ESB push configs that run this flow (they name it in their parameters)."""
        from pushconfig.models import PushConfig

        return PushConfig.objects.filter(push_type="esb", params__flow=name or self.name)

    def esb_refusal(self, name=None):
        """Why this flow may not stop being a called flow of its name (or of `name`, the one
        it had), or None."""
        names = list(self.esb_configs(name).values_list("system_name", flat=True)[:10])
        if not names:
            return None
        return _("The ESB push configs %(configs)s run this flow: change their flow first.") % {
            "configs": ", ".join(f"“{n}”" for n in names)}

    def delete(self, *args, **kwargs):
        from django.db.models import ProtectedError

        refusal = self.esb_refusal()
        if refusal:
            raise ProtectedError(refusal, set(self.esb_configs()))
        return super().delete(*args, **kwargs)

    def clean(self):
        import json

        from integration.notify import validate_channel_keys

        from ..triggers import check_trigger

        errors = check_trigger(self)
        if self.pk:
            before = ActionFlow.objects.filter(pk=self.pk).values("name", "trigger").first()
            if before and (before["name"] != self.name or self.trigger != self.Trigger.CALLED):
                refusal = (self.esb_refusal(before["name"])
                           if before["trigger"] == self.Trigger.CALLED else None)
                if refusal:
                    errors["name" if before["name"] != self.name else "trigger"] = refusal
        if self.secrets:
            try:
                value = json.loads(self.secrets)
            except ValueError:
                value = None
            if not isinstance(value, dict) or not all(
                    isinstance(v, (str, int, float)) for v in value.values()):
                errors["secrets"] = _('Write a JSON object of names and texts, e.g. '
                                      '{"token": "…"}.')
        try:
            self.alert_channels = validate_channel_keys(self.alert_channels or [])
        except ValidationError as exc:
            errors["alert_channels"] = exc.messages
        if errors:
            raise ValidationError(errors)


step_key_validator = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9_]{0,39}$",
    _("Start with a letter; then letters, digits or underscores (at most 40)."))


class FlowStep(models.Model):
    class OnFailure(models.TextChoices):
        STOP = "stop", _("Stop the run (it fails)")
        CONTINUE = "continue", _("Continue with the next step")

    flow = models.ForeignKey(ActionFlow, verbose_name=_("action flow"), on_delete=models.CASCADE,
                             related_name="steps")
    order = models.PositiveIntegerField(_("order"), default=0)
    key = models.CharField(_("key"), max_length=40, validators=[step_key_validator],
                           help_text=_("Stable name of the step: later steps read its outputs "
                                       "as {{ steps.<key>.<output> }}."))
    name = models.CharField(_("name"), max_length=100, blank=True)
    # A registry key (actionflow.steps), not model choices: a new step kind is a module.
    kind = models.CharField(_("kind"), max_length=40)
    config = models.JSONField(_("settings"), default=dict, blank=True)
    tries = models.PositiveSmallIntegerField(
        _("tries"), default=1, validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text=_("Tries in all when the step fails for a reason that may pass (a timeout, "
                    "a 5xx answer)."))
    retry_wait = models.PositiveIntegerField(
        _("wait between tries (seconds)"), default=10,
        validators=[MinValueValidator(0), MaxValueValidator(300)])
    on_failure = models.CharField(_("on failure"), max_length=8, choices=OnFailure.choices,
                                  default=OnFailure.STOP)

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["flow", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["flow", "key"], name="step_key_unique",
                                               violation_error_message=_(
                                                   "Another step of this flow has this key."))]

    def __str__(self):
        return self.name or self.key


class FlowVersion(models.Model):
    """A frozen definition: trigger settings and steps as they were when published."""

    flow = models.ForeignKey(ActionFlow, verbose_name=_("action flow"), on_delete=models.CASCADE,
                             related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    definition = models.JSONField(_("definition"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("flow version")
        verbose_name_plural = _("flow versions")
        ordering = ["flow", "-number"]
        constraints = [models.UniqueConstraint(fields=["flow", "number"],
                                               name="flow_version_unique")]

    def __str__(self):
        return f"{self.flow} v{self.number}"


class TriggerMark(models.Model):
    """A record that fired a date-field flow. Kept after its run is pruned, so the record never
    fires the flow again; the unique key makes concurrent beats and workers fire it once."""

    flow = models.ForeignKey(ActionFlow, on_delete=models.CASCADE, related_name="marks")
    key = models.CharField(max_length=100)
    run = models.ForeignKey("actionflow.FlowRun", null=True, blank=True,
                            on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow", "key"], name="trigger_mark_unique")]


__all__ = ["ActionFlow", "FlowStep", "FlowVersion", "TriggerMark"]
