"""Batch push tasks (批量推送任务): an administrator's bulk correction of one target.

A task takes either the current state of todo items (realtime) or past push records of its
config (history), filtered, and writes one push record per match — in chunks, on the batch
queue (see `pushconfig.batch`). The filters are validated here, once, for the admin form and
the API alike; `clean_filters` returns them normalised (lists, ISO times) as they are stored.

The source is bounded when the task is created: `source_end` is the highest matching id then,
so items arriving later (and, for a history push, the task's own new records) are never taken.
`cursor` is the last source id turned into records; it moves in the transaction that writes
them, so a worker restart resumes exactly where the task was.
"""
import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from integration.events import check_text, fits_utc, refusal
from integration.vocabulary import DataSet

# At most this many values per list filter (a pasted list of login ids, say).
MAX_VALUES = 1000


class TaskMode(models.TextChoices):
    REALTIME = "realtime", _("Realtime push")
    HISTORY = "history", _("History push")


class TaskStatus(models.TextChoices):
    INITIALISED = "initialised", _("Initialised")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


# Statuses in which the runner may still write records or is waiting for answers.
ACTIVE = (TaskStatus.INITIALISED, TaskStatus.RUNNING)
FINISHED = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)

# Data sets each mode may filter on (seed 002: realtime 待办、已办; history 待办、已办、办结、删除).
DATA_SETS = {
    TaskMode.REALTIME: (DataSet.TODO, DataSet.DONE),
    TaskMode.HISTORY: (DataSet.TODO, DataSet.DONE, DataSet.OVER, DataSet.DELETE),
}

TEXT_FILTERS = ("creator", "receiver", "request_id")
FILTERS = (*TEXT_FILTERS, "workflow_type", "data_set", "created_after", "created_before")
FILTER_LABELS = {
    "creator": _("creator"),
    "receiver": _("receiver"),
    "request_id": _("request id"),
    "workflow_type": _("workflow type"),
    "data_set": _("data set"),
    "created_after": _("from"),
    "created_before": _("until"),
}


class PushTask(models.Model):
    mode = models.CharField(_("mode"), max_length=10, choices=TaskMode.choices)
    config = models.ForeignKey("pushconfig.PushConfig", verbose_name=_("push config"),
                               on_delete=models.CASCADE, related_name="tasks")
    filters = models.JSONField(_("conditions"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=TaskStatus.choices,
                              default=TaskStatus.INITIALISED, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"),
                                   null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="push_tasks")
    # Matches when the task was created; set to the records written once the source is done.
    total = models.PositiveIntegerField(_("total"), default=0)
    source_end = models.BigIntegerField(_("last source id"), default=0)
    cursor = models.BigIntegerField(_("cursor"), default=0,
                                    help_text=_("The last source id turned into push records."))
    # The runner's claim: one chain of run_task messages per task (see pushconfig.batch).
    runner = models.CharField(_("runner"), max_length=32, blank=True)
    lease_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("batch push task")
        verbose_name_plural = _("batch push tasks")
        ordering = ["-id"]

    def __str__(self):
        return gettext("Batch push task #%(id)s") % {"id": self.pk}

    @property
    def source_exhausted(self):
        return self.cursor >= self.source_end

    def conditions(self):
        """The filters as one line for lists and messages."""
        return describe_filters(self.filters)


def describe_filters(filters, type_names=None):
    """`type_names` (OA id → name of workflow types) saves a query per task in lists."""
    from integration.models import WorkflowType

    parts = []
    for name in FILTERS:
        value = filters.get(name)
        if not value:
            continue
        if name == "workflow_type":
            names = type_names if type_names is not None else dict(
                WorkflowType.objects.filter(external_id__in=value)
                .values_list("external_id", "name"))
            value = [names.get(oa_id, oa_id) for oa_id in value]
        elif name == "data_set":
            value = [str(DataSet(v).label) if v in DataSet.values else v for v in value]
        if isinstance(value, list):
            shown = ", ".join(str(v) for v in value[:5])
            if len(value) > 5:
                shown += gettext(" … (%(n)d in all)") % {"n": len(value)}
        else:
            shown = str(value)
        parts.append(f"{FILTER_LABELS[name]}: {shown}")
    return "; ".join(parts) or gettext("everything")


def _as_list(value):
    if isinstance(value, str):
        # A pasted list: commas, semicolons, spaces or line breaks between values.
        for separator in ",;\n\r\t":
            value = value.replace(separator, " ")
        return value.split()
    return value


def _time(value, errors, name):
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            errors[name] = [gettext("Not a date and time: use ISO 8601, e.g. "
                                    "2024-05-01T09:30:00+08:00.")]
            return None
    else:
        errors[name] = [gettext("Not a date and time: use ISO 8601, e.g. "
                                "2024-05-01T09:30:00+08:00.")]
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if not fits_utc(moment):
        errors[name] = [gettext("Date and time out of range.")]
        return None
    return moment


def _unstorable(values):
    """check_text's messages for the first value PostgreSQL cannot take (a lone surrogate, a
    NUL character), or None."""
    for value in values:
        if problem := refusal(check_text, value):
            return problem
    return None


def clean_filters(mode, raw):
    """Validate a task's filters for `mode`. Returns them normalised (only the ones given);
    raises ValidationError({filter name: [message]}) naming each bad filter."""
    from integration.models import WorkflowType

    if raw in (None, ""):
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationError({"filters": [gettext("Send the filters as an object.")]})
    errors, clean = {}, {}
    for name in sorted(set(raw) - set(FILTERS)):
        errors[name] = [gettext("Unknown filter; use one of: %(names)s.")
                        % {"names": ", ".join(FILTERS)}]
    for name in TEXT_FILTERS:
        values = _as_list(raw.get(name))
        if values in (None, [], ""):
            continue
        if not isinstance(values, list) or not all(
                isinstance(v, str | int) and not isinstance(v, bool) for v in values):
            errors[name] = [gettext("Give a list of ids (text).")]
            continue
        values = list(dict.fromkeys(str(v).strip() for v in values if str(v).strip()))
        if len(values) > MAX_VALUES:
            errors[name] = [gettext("At most %(max)d values.") % {"max": MAX_VALUES}]
        elif any(len(v) > 64 or "\x00" in v for v in values):
            errors[name] = [gettext("Each value is at most 64 characters, without null "
                                    "characters.")]
        elif problem := _unstorable(values):
            errors[name] = problem
        elif values:
            clean[name] = values
    types = _as_list(raw.get("workflow_type"))
    if types not in (None, [], ""):
        if not isinstance(types, list) or not all(
                isinstance(v, str | int) and not isinstance(v, bool) for v in types):
            errors["workflow_type"] = [gettext("Give a list of workflow type OA ids.")]
        else:
            wanted = list(dict.fromkeys(str(v).strip() for v in types if str(v).strip()))
            # Both before the query: it would fail on such text, and grow with the list.
            if len(wanted) > MAX_VALUES:
                errors["workflow_type"] = [gettext("At most %(max)d values.") % {"max": MAX_VALUES}]
            elif problem := _unstorable(wanted):
                errors["workflow_type"] = problem
            else:
                known = set(WorkflowType.objects.filter(external_id__in=wanted)
                            .values_list("external_id", flat=True))
                missing = [v for v in wanted if v not in known]
                if missing:
                    errors["workflow_type"] = [gettext("No such workflow type: %(ids)s.")
                                               % {"ids": ", ".join(missing[:20])}]
                elif wanted:
                    clean["workflow_type"] = wanted
    data_sets = _as_list(raw.get("data_set"))
    if data_sets not in (None, [], ""):
        allowed = DATA_SETS.get(mode, ())
        if not isinstance(data_sets, list) or not all(isinstance(v, str) for v in data_sets):
            errors["data_set"] = [gettext("Give a list of data sets.")]
        elif any(v not in allowed for v in data_sets):
            errors["data_set"] = [gettext("A %(mode)s takes these data sets: %(allowed)s.") % {
                "mode": TaskMode(mode).label if mode in TaskMode.values else mode,
                "allowed": ", ".join(allowed)}]
        else:
            clean["data_set"] = [v for v in allowed if v in data_sets]
    moments = {}
    for name in ("created_after", "created_before"):
        value = raw.get(name)
        if value in (None, ""):
            continue
        moment = _time(value, errors, name)
        if moment is not None:
            moments[name] = moment
            clean[name] = moment.isoformat()
    if len(moments) == 2 and moments["created_after"] >= moments["created_before"]:
        errors["created_before"] = [gettext("Must be later than “from”.")]
    if errors:
        raise ValidationError(errors)
    return clean
