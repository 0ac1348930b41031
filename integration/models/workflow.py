"""The workflow catalog (types, workflows, nodes) and requests, the workflow instances."""
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..vocabulary import RequestStatus


class WorkflowType(models.Model):
    external_id = models.CharField(_("OA id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        verbose_name = _("workflow type")
        verbose_name_plural = _("workflow types")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Workflow(models.Model):
    workflow_id = models.CharField(_("workflow id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    workflow_type = models.ForeignKey(
        WorkflowType, verbose_name=_("workflow type"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="workflows",
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("workflow")
        verbose_name_plural = _("workflows")
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.workflow_id})"


class WorkflowNode(models.Model):
    workflow = models.ForeignKey(
        Workflow, verbose_name=_("workflow"), on_delete=models.CASCADE, related_name="nodes"
    )
    node_id = models.CharField(_("node id"), max_length=64)
    name = models.CharField(_("name"), max_length=200)
    order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("node")
        verbose_name_plural = _("nodes")
        ordering = ["workflow", "order", "node_id"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "node_id"], name="node_unique_per_workflow")
        ]

    def __str__(self):
        return self.name


class Request(models.Model):
    """One workflow instance. `workflow_ref` and `creator` keep what the OA said even when the
    catalog or directory does not know it yet; the foreign keys are filled when they do."""

    # Unique and indexed in Meta (no "_like" twins: nothing matches these columns with LIKE,
    # and every ingested event that changes its request wrote them).
    request_id = models.CharField(_("request id"), max_length=64)
    title = models.CharField(_("title"), max_length=500, blank=True)
    workflow_ref = models.CharField(_("workflow id"), max_length=64, blank=True)
    workflow = models.ForeignKey(
        Workflow, verbose_name=_("workflow"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="requests",
    )
    creator = models.CharField(_("creator"), max_length=64, blank=True)
    creator_person = models.ForeignKey(
        "integration.Person", verbose_name=_("creator (directory)"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="created_requests",
    )
    current_node = models.CharField(_("current node"), max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=RequestStatus.choices, default=RequestStatus.RUNNING,
    )
    form_data = models.JSONField(_("form data"), default=dict, blank=True)
    sign_opinions = models.JSONField(_("sign opinions"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), null=True, blank=True, db_index=True)
    last_event_at = models.DateTimeField(_("last event at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("request")
        verbose_name_plural = _("requests")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["request_id"], name="request_id_unique")]
        indexes = [models.Index(fields=["workflow_ref"], name="request_workflow_ref"),
                   models.Index(fields=["creator"], name="request_creator"),
                   models.Index(fields=["status"], name="request_status")]

    def __str__(self):
        return f"{self.title or self.request_id} ({self.request_id})"
