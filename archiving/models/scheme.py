"""Archive schemes (归档方案): which workflow's requests are archived, at which moment, with
which metadata, to which target. The id is a snowflake (archiving.snowflake), the number the
Action's `channelIds` names."""
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext_lazy as _

from integration.vocabulary import Moment

from ..snowflake import next_id, reseed
from ..vocabulary import SchemeTrigger

MAPPING_HELP = _(
    "A JSON list, one object per metadata item, in order: “form_field” (a form field's name, "
    "or a dotted path into nested form data), “metadata_key” (the archive system's name for it, "
    "unique) and optionally “required” (true: the export fails, naming the field, when the form "
    "has no value). Example: [{\"form_field\": \"title\", \"metadata_key\": \"题名\", "
    "\"required\": true}, {\"form_field\": \"applicant.dept\", \"metadata_key\": \"部门\"}]")


class ArchiveScheme(models.Model):
    id = models.BigIntegerField(_("id"), primary_key=True, default=next_id, editable=False)
    name = models.CharField(_("name"), max_length=200)
    enabled = models.BooleanField(_("enabled"), default=False)
    workflow = models.ForeignKey(
        "integration.Workflow", verbose_name=_("workflow"), on_delete=models.PROTECT,
        related_name="archive_schemes",
        help_text=_("The scheme's workflow path: requests of this workflow are archived."))
    node_name = models.CharField(
        _("export node"), max_length=200,
        help_text=_("The node whose moment exports the request. Before an approval node, that "
                    "node's sign opinions do not exist yet."))
    moment = models.CharField(_("export moment"), max_length=8, choices=Moment.choices,
                              default=Moment.AFTER)
    trigger = models.CharField(
        _("trigger"), max_length=8, choices=SchemeTrigger.choices, default=SchemeTrigger.FLOW,
        help_text=_("Flow trigger: archived when the Action intias_wf is called (by an action "
                    "flow or over REST) or re-archived by hand; the data is the request's "
                    "current data. Automatic: archived when a workflow event at the export "
                    "node and moment is accepted, with the data that event carried."))
    field_mapping = models.JSONField(_("field mapping"), default=list, blank=True,
                                     help_text=MAPPING_HELP)
    include_sign_opinions = models.BooleanField(
        _("include sign opinions"), default=True,
        help_text=_("Adds sign_opinions.json to the package."))
    target = models.ForeignKey("archiving.ArchiveTarget", verbose_name=_("archive target"),
                               on_delete=models.PROTECT, related_name="schemes")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("archive scheme")
        verbose_name_plural = _("archive schemes")
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["workflow", "enabled", "trigger"],
                                name="archive_scheme_lookup")]

    def __str__(self):
        return f"{self.name} ({self.id})"

    def clean(self):
        from ..mapping import validate_mapping

        errors = {}
        try:
            self.field_mapping = validate_mapping(self.field_mapping)
        except ValidationError as exc:
            errors["field_mapping"] = exc.messages
        self.node_name = (self.node_name or "").strip()
        if self.workflow_id and self.node_name:
            problem = node_problem(self.workflow, self.node_name)
            if problem:
                errors["node_name"] = problem
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        if not self._state.adding:
            return super().save(*args, **kwargs)
        # A fresh snowflake can, rarely, equal one drawn by another process with the same
        # node bits: draw again instead of failing the administrator's save.
        for attempt in range(3):
            try:
                with transaction.atomic():
                    return super().save(*args, **kwargs)
            except IntegrityError:
                if attempt == 2 or type(self).objects.filter(pk=self.pk).exists() is False:
                    raise
                reseed()
                self.pk = next_id()


def node_problem(workflow, node_name):
    """The catalog's nodes of a workflow bound the choice; a workflow whose nodes the catalog
    does not hold (yet) takes any name, as the inbox keeps events of unknown workflows."""
    names = list(workflow.nodes.values_list("name", flat=True))
    if names and node_name not in names:
        return _("“%(node)s” is not a node of %(workflow)s; its nodes are: %(nodes)s.") % {
            "node": node_name, "workflow": workflow, "nodes": ", ".join(names)}
    return None
