"""The OA's vocabulary: data sets and the business statuses each one holds.

Seed 002 puts business statuses inside data sets (e.g. "forward" and "cc" are both in the
todo data set); interception and the duplicate filter of later issues work on these codes.
An event whose business status does not belong to its data set is refused.
"""
from django.db import models
from django.utils.translation import gettext_lazy as _


class DataSet(models.TextChoices):
    TODO = "todo", _("Todo")
    DONE = "done", _("Done")
    OVER = "over", _("Finished")
    DELETE = "delete", _("Deleted")


class BusinessStatus(models.TextChoices):
    # todo
    ARRIVE = "arrive", _("Arrive")
    FORWARD = "forward", _("Forward")
    CC = "cc", _("Carbon copy")
    CONSULT = "consult", _("Opinion consultation")
    TRANSFER = "transfer", _("Transfer")
    URGE = "urge", _("Urge")
    RETURN = "return", _("Returned")
    # done
    SUBMIT = "submit", _("Submit")
    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")
    READ = "read", _("Read")
    REPLY = "reply", _("Reply")
    WITHDRAW = "withdraw", _("Withdraw")
    # over
    ARCHIVE = "archive", _("Archive")
    # delete
    DELETE = "delete", _("Delete")
    CANCEL = "cancel", _("Cancel")


BUSINESS_STATUSES_BY_DATA_SET = {
    DataSet.TODO: (
        BusinessStatus.ARRIVE, BusinessStatus.FORWARD, BusinessStatus.CC, BusinessStatus.CONSULT,
        BusinessStatus.TRANSFER, BusinessStatus.URGE, BusinessStatus.RETURN,
    ),
    DataSet.DONE: (
        BusinessStatus.SUBMIT, BusinessStatus.APPROVE, BusinessStatus.REJECT, BusinessStatus.READ,
        BusinessStatus.REPLY, BusinessStatus.FORWARD, BusinessStatus.WITHDRAW,
    ),
    DataSet.OVER: (BusinessStatus.ARCHIVE,),
    DataSet.DELETE: (BusinessStatus.DELETE, BusinessStatus.CANCEL, BusinessStatus.WITHDRAW),
}

# What an event that names no business status means.
DEFAULT_BUSINESS_STATUS = {
    DataSet.TODO: BusinessStatus.ARRIVE,
    DataSet.DONE: BusinessStatus.SUBMIT,
    DataSet.OVER: BusinessStatus.ARCHIVE,
    DataSet.DELETE: BusinessStatus.DELETE,
}


class RequestStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")
    DELETED = "deleted", _("Deleted")


class Moment(models.TextChoices):
    BEFORE = "before", _("Before the node")
    AFTER = "after", _("After the node")


class EventFlag(models.TextChoices):
    """Why an accepted event deserves a second look. The event is kept either way."""

    UNKNOWN_RECEIVER = "unknown_receiver", _("Receiver not in the directory")
    UNKNOWN_CREATOR = "unknown_creator", _("Creator not in the directory")
    UNKNOWN_WORKFLOW = "unknown_workflow", _("Workflow not in the catalog")
    UNKNOWN_IDENTITY = "unknown_identity", _("Part-time identity not in the directory")
    OUT_OF_ORDER = "out_of_order", _("Older than the state already held; state unchanged")
