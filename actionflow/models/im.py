"""IM groups and messages created by action flows (seeds 004), kept in the console so that
a flow can find the group it made (send to it, change it) and an administrator can see them.

A matter group (事项群聊) belongs to one record: one matter, one group, unless the first group
was dissolved. The partial unique constraint says so to every process at once; a group
being created already holds its place.
"""
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class IMGroup(models.Model):
    class Kind(models.TextChoices):
        NORMAL = "normal", _("Normal group (普通群聊)")
        TOPIC = "topic", _("Topic group (话题群聊)")
        MATTER = "matter", _("Matter group (事项群聊)")

    class Status(models.TextChoices):
        CREATING = "creating", _("Being created")
        ACTIVE = "active", _("Active")
        DISSOLVED = "dissolved", _("Dissolved")

    class TopicState(models.TextChoices):
        DISCUSSING = "discussing", _("Under discussion (讨论中)")
        ENDED = "ended", _("Ended (已结束)")

    account = models.ForeignKey("integration.IMAccount", verbose_name=_("IM account"),
                                on_delete=models.PROTECT, related_name="groups")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.NORMAL)
    name = models.CharField(_("name"), max_length=100)
    owner = models.CharField(_("owner"), max_length=64, help_text=_("Login id."))
    admins = models.JSONField(_("admins"), default=list, blank=True,
                              help_text=_("Login ids of the group's admins."))
    members = models.JSONField(_("members"), default=list, blank=True,
                               help_text=_("Login ids, the owner included."))
    topic_state = models.CharField(_("topic state"), max_length=12, choices=TopicState.choices,
                                   blank=True)
    matter_type = models.CharField(_("matter type"), max_length=40, blank=True,
                                   help_text=_("What the matter is, e.g. request or todo_item."))
    matter_id = models.CharField(_("matter"), max_length=64, blank=True)
    matter_url = models.URLField(_("matter link"), max_length=1000, blank=True)
    provider_group_id = models.CharField(_("group id on the IM platform"), max_length=64,
                                         blank=True, db_index=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices,
                              default=Status.CREATING)
    created_by_run = models.ForeignKey("actionflow.FlowRun", verbose_name=_("created by run"),
                                       null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    dissolved_at = models.DateTimeField(_("dissolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("IM group")
        verbose_name_plural = _("IM groups")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(
            fields=["matter_type", "matter_id"],
            condition=Q(kind="matter") & ~Q(status="dissolved"),
            name="one_group_per_matter",
            violation_error_message=_("This matter already has a group; dissolve it first."))]

    def __str__(self):
        return self.name

    def can_manage(self, login_id):
        return bool(login_id) and (login_id == self.owner or login_id in (self.admins or []))


class IMMessage(models.Model):
    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        CARD = "card", _("Card")

    class Status(models.TextChoices):
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey("integration.IMAccount", verbose_name=_("IM account"),
                                on_delete=models.PROTECT, related_name="messages")
    group = models.ForeignKey(IMGroup, verbose_name=_("IM group"), null=True, blank=True,
                              on_delete=models.CASCADE, related_name="messages")
    recipients = models.JSONField(_("recipients"), default=list, blank=True,
                                  help_text=_("Login ids (a message to persons)."))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.CARD)
    title = models.CharField(_("title"), max_length=200, blank=True)
    body = models.TextField(_("body"), blank=True)
    url = models.URLField(_("link"), max_length=1000, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices)
    error = models.TextField(_("error"), blank=True)
    invalid_users = models.JSONField(_("not reached"), default=list, blank=True)
    provider_message_id = models.CharField(_("message id"), max_length=128, blank=True)
    run = models.ForeignKey("actionflow.FlowRun", verbose_name=_("flow run"), null=True,
                            blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("IM message")
        verbose_name_plural = _("IM messages")
        ordering = ["-id"]

    def __str__(self):
        return self.title or self.body[:50]
