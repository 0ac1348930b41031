"""Todo items: the console's copy of the current state of each (request, receiver, identity)."""
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..vocabulary import BusinessStatus, DataSet


class TodoItem(models.Model):
    # No index of its own: the unique key starts with it. The text columns are indexed in
    # Meta, without the "_like" twins nothing queries with LIKE.
    request = models.ForeignKey(
        "integration.Request", verbose_name=_("request"), on_delete=models.CASCADE,
        related_name="todo_items", db_index=False,
    )
    receiver = models.CharField(_("receiver"), max_length=64)
    receiver_person = models.ForeignKey(
        "integration.Person", verbose_name=_("receiver (directory)"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="todo_items",
    )
    # "" is the person's main identity; otherwise the OA id of a part-time identity.
    identity = models.CharField(_("part-time identity"), max_length=64, blank=True, default="")
    data_set = models.CharField(_("data set"), max_length=8, choices=DataSet.choices)
    business_status = models.CharField(
        _("business status"), max_length=16, choices=BusinessStatus.choices
    )
    node_name = models.CharField(_("node"), max_length=200, blank=True)
    viewed = models.BooleanField(_("viewed"), default=False)
    task_id = models.CharField(_("task id"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), null=True, blank=True)
    last_event_at = models.DateTimeField(_("last event at"), db_index=True)
    last_event_id = models.CharField(_("last event id"), max_length=128)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("todo item")
        verbose_name_plural = _("todo items")
        ordering = ["-last_event_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "receiver", "identity"], name="todo_item_unique_key"
            )
        ]
        indexes = [models.Index(fields=["receiver", "data_set"], name="todo_receiver_dataset"),
                   models.Index(fields=["data_set"], name="todo_data_set"),
                   models.Index(fields=["task_id"], name="todo_task_id"),
                   # Date-field flow triggers select todo items by their creation time.
                   models.Index(fields=["created_at"], name="todo_created_at")]

    def __str__(self):
        return f"{self.request.request_id} → {self.receiver} [{self.data_set}]"
