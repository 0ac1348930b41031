"""IM step kinds (seed 004): send an IM message to persons, create an IM group, send to a
group, change a group's settings. Messages and groups are kept in the console (IMMessage,
IMGroup) and delivered through the IM account's provider (integration.im).

Persons are named by login id everywhere (a list, or text separated by commas); the
directory (integration.models.Person) and the account's `user_id_of` turn them into IM user
ids. Persons who cannot be reached are reported in the step's output, not fatal, unless
nobody is left.

Groups: one matter, one live group. `im_group_create` claims the IMGroup row first (status
"creating"); the partial unique constraint `one_group_per_matter` refuses a second claim from
any process, and the step fails with a permanent error naming the existing group. A provider
failure removes the claim, so a later try creates the group. The chat id asked of the
provider is derived from the group's identity (the matter and how many of its groups were
dissolved, or the run and how many groups it made), so a try repeated after an answer that
was lost finds the chat it already made (WeCom answers 86215) and adopts it instead of making
a second one.

Changing a group is allowed only when the flow's operator is the group's owner or one of its
admins. Admins and the topic state are the console's notions: the provider is told about
names, owners and members only. WeCom has no API to dissolve an app chat, so "dissolve" marks
the group dissolved in the console (nothing more can be sent to it, and its matter may get a
new group); the chat stays in members' clients.
"""
import re
from datetime import timedelta

import requests
from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from integration.im import Card, ProviderError, UnknownProvider, provider_for
from integration.models import IMAccount, Person

from ..models import IMGroup, IMMessage
from .base import Step, StepFailed, StepResult, register

Kind = IMGroup.Kind
Status = IMGroup.Status
TopicState = IMGroup.TopicState

# Provider answers that mean "a chat with the id you asked for exists already": a try whose
# answer was lost made it. Vendor codes stay with the vendor's key.
CHAT_EXISTS = {"wecom": {86215}}
SEPARATORS = re.compile(r"[,，;；\s]+")
MESSAGE_TYPES = [("card", gettext_lazy("Message card")), ("text", gettext_lazy("Text"))]

_session = None


def session():
    """One HTTP session per worker process: calls to the IM API reuse connections."""
    global _session
    if _session is None:
        _session = requests.Session()
    return _session


# -- settings --------------------------------------------------------------------------------
def is_template(value):
    return isinstance(value, str) and "{{" in value


class LoginIdsField(serializers.Field):
    """Login ids: a list of texts, or one text separated by commas (either may hold
    expressions, evaluated when the step runs)."""

    default_error_messages = {
        "invalid": gettext_lazy("Write login ids as a list of texts, or as text separated by "
                                "commas."),
        "empty": gettext_lazy("Name at least one person."),
    }

    def __init__(self, allow_empty=True, **kwargs):
        self.allow_empty = allow_empty
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str):
            items = [data]
        elif isinstance(data, list) and all(isinstance(i, str) for i in data):
            items = data
        else:
            self.fail("invalid")
        if not self.allow_empty and not any(i.strip() for i in items):
            self.fail("empty")
        return data

    def to_representation(self, value):
        return value


def check_url(value):
    if value and not is_template(value) and not value.startswith(("http://", "https://")):
        raise serializers.ValidationError(_("A link starts with http:// or https://."))
    return value


def check_account(value):
    if value and not is_template(value) and not IMAccount.objects.filter(name=value).exists():
        raise serializers.ValidationError(_("There is no IM account named “%(name)s”.")
                                          % {"name": value})
    return value


class AccountField(serializers.CharField):
    """The name of an IM account, looked up once the text passed the field's own checks: as
    one of its validators the lookup would run beside them, on a NUL PostgreSQL refuses."""

    def run_validation(self, data=serializers.empty):
        return check_account(super().run_validation(data))


class MessageFields(serializers.Serializer):
    type = serializers.ChoiceField(choices=MESSAGE_TYPES, default="card")
    title = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    body = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    url = serializers.CharField(max_length=2000, required=False, allow_blank=True,
                                validators=[check_url])
    button_text = serializers.CharField(max_length=100, required=False, allow_blank=True)

    def validate(self, data):
        if data.get("type", "card") == "card" and not (data.get("title") or "").strip():
            raise serializers.ValidationError({"title": _("A message card needs a title.")})
        if data.get("type") == "text" and not (data.get("body") or "").strip():
            raise serializers.ValidationError({"body": _("A text message needs a body.")})
        return data


class GroupRef(serializers.Serializer):
    """Which group: our IMGroup id (`group`), or the live group of a matter."""

    group = serializers.JSONField(required=False)
    matter_type = serializers.CharField(max_length=200, required=False, default="request")
    matter_id = serializers.CharField(max_length=1000, required=False, allow_blank=True)

    def validate_group(self, value):
        if value in (None, ""):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise serializers.ValidationError(_("The group is its id in the console, e.g. "
                                                "“{{ steps.mkgroup.group }}”."))
        if isinstance(value, str) and not is_template(value) and not value.strip().isdigit():
            raise serializers.ValidationError(_("The group is its id in the console (a "
                                                "number), e.g. “{{ steps.mkgroup.group }}”."))
        return value

    def validate(self, data):
        by_group = data.get("group") not in (None, "")
        by_matter = bool((data.get("matter_id") or "").strip())
        if by_group == by_matter:
            raise serializers.ValidationError({"group": _(
                "Name the group either by its id (group) or by its matter (matter_type and "
                "matter_id), not both.")})
        return data


class IMMessageConfig(MessageFields):
    recipients = LoginIdsField(allow_empty=False)
    account = AccountField(max_length=100, required=False, allow_blank=True)


class GroupCreateConfig(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices, default=Kind.NORMAL)
    name = serializers.CharField(max_length=1000)
    owner = serializers.CharField(max_length=200, required=False, allow_blank=True)
    members = LoginIdsField(required=False, default=list)
    admins = LoginIdsField(required=False, default=list)
    matter_type = serializers.CharField(max_length=200, required=False, default="request")
    matter_id = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    matter_url = serializers.CharField(max_length=2000, required=False, allow_blank=True,
                                       validators=[check_url])
    account = AccountField(max_length=100, required=False, allow_blank=True)

    def validate(self, data):
        if data.get("kind") == Kind.MATTER:
            if not (data.get("matter_id") or "").strip():
                raise serializers.ValidationError({"matter_id": _(
                    "A matter group needs the matter's id, e.g. “{{ record.request_id }}”.")})
            if not (data.get("matter_type") or "").strip():
                raise serializers.ValidationError({"matter_type": _(
                    "A matter group needs the matter's type, e.g. “request”.")})
        elif (data.get("matter_id") or "").strip() or data.get("matter_url"):
            raise serializers.ValidationError({"kind": _(
                "Only a matter group is tied to a matter; choose the kind “matter” or leave "
                "matter_id and matter_url out.")})
        return data


class GroupMessageConfig(GroupRef, MessageFields):
    def validate(self, data):
        return MessageFields.validate(self, GroupRef.validate(self, data))


class GroupUpdateConfig(GroupRef):
    name = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    owner = serializers.CharField(max_length=200, required=False, allow_blank=True)
    add_members = LoginIdsField(required=False)
    remove_members = LoginIdsField(required=False)
    add_admins = LoginIdsField(required=False)
    remove_admins = LoginIdsField(required=False)
    topic_state = serializers.ChoiceField(choices=TopicState.choices, required=False,
                                          allow_blank=True)
    dissolve = serializers.BooleanField(required=False, default=False)

    CHANGES = ("name", "owner", "add_members", "remove_members", "add_admins",
               "remove_admins", "topic_state")

    def validate(self, data):
        data = super().validate(data)
        given = [name for name in self.CHANGES if data.get(name) not in (None, "", [])]
        if data.get("dissolve") and given:
            raise serializers.ValidationError({"dissolve": _(
                "Dissolving a group changes nothing else; put the other changes (%(names)s) "
                "in a step of their own.") % {"names": ", ".join(given)}})
        if not data.get("dissolve") and not given:
            raise serializers.ValidationError(_(
                "Say what to change: name, owner, add_members, remove_members, add_admins, "
                "remove_admins, topic_state, or dissolve."))
        return data


# -- values at run time ------------------------------------------------------------------------
def text(settings, name, default=""):
    value = settings.get(name)
    if value is None:
        return default
    if isinstance(value, (dict, list)):
        raise StepFailed(_("“%(setting)s” must be text, not a list or an object.")
                         % {"setting": name})
    return str(value).strip()


def login_ids(settings, name):
    """The login ids of a setting, in order, without blanks or repeats; an expression may
    have given a list, one text separated by commas, or a single number."""
    value = settings.get(name)
    items = value if isinstance(value, (list, tuple)) else [value]
    found = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise StepFailed(_("“%(setting)s” holds %(value)s, which is not a login id.")
                             % {"setting": name, "value": str(item)[:100]})
        found += [part for part in SEPARATORS.split(str(item)) if part]
    return list(dict.fromkeys(found))


def checked_url(settings, name, limit):
    url = text(settings, name)
    if url and not url.startswith(("http://", "https://")):
        raise StepFailed(_("“%(setting)s” must start with http:// or https://: %(url)s")
                         % {"setting": name, "url": url[:200]})
    if len(url) > limit:
        raise StepFailed(_("“%(setting)s” is %(size)d characters long; at most %(limit)d.")
                         % {"setting": name, "size": len(url), "limit": limit})
    return url


def limited(settings, name, limit, required=False):
    value = text(settings, name)
    if required and not value:
        raise StepFailed(_("“%(setting)s” is empty.") % {"setting": name})
    if len(value) > limit:
        raise StepFailed(_("“%(setting)s” is %(size)d characters long; at most %(limit)d.")
                         % {"setting": name, "size": len(value), "limit": limit})
    return value


def message_of(settings):
    """(kind, Card) of the message settings, checked again after expressions were
    evaluated: a title that comes from a record may turn out empty."""
    kind = settings.get("type") or IMMessage.Kind.CARD
    card = Card(title=text(settings, "title"), description=text(settings, "body"),
                url=checked_url(settings, "url", 2048),
                button_text=text(settings, "button_text"))
    if kind == IMMessage.Kind.CARD and not card.title:
        raise StepFailed(_("The message card's title is empty."))
    if kind == IMMessage.Kind.TEXT and not card.description:
        raise StepFailed(_("The text message's body is empty."))
    return kind, card


def account_for(settings):
    name = text(settings, "account")
    if not name:
        account = IMAccount.active(IMAccount.Purpose.IM)
        if account is None:
            raise StepFailed(_("No IM account is enabled for IM; enable one under IM accounts "
                               "or name one in the step's “account”."))
        return account
    account = IMAccount.objects.filter(name=name).order_by("-enabled", "pk").first()
    if account is None:
        raise StepFailed(_("There is no IM account named “%(name)s”.") % {"name": name})
    if not account.enabled:
        raise StepFailed(_("The IM account “%(name)s” is disabled.") % {"name": name})
    return account


def provider_of(account):
    try:
        return provider_for(account, session())
    except UnknownProvider as exc:
        raise StepFailed(str(exc)) from None


def failed(exc, output=None):
    """StepFailed for a provider error: a later try may help unless it is permanent."""
    return StepFailed(exc.reason, transient=not exc.permanent, output=output)


class Directory:
    """Login ids → IM user ids of one account, and why the others cannot be reached."""

    def __init__(self, account, ids):
        self.account = account
        self.user_ids = {}      # login id → IM user id, in the order asked
        self.reasons = {}       # login id → why it cannot be reached
        persons = {p.login_id: p for p in Person.objects.filter(login_id__in=ids)}
        field = account.get_user_id_field_display()
        for login in ids:
            person = persons.get(login)
            if person is None:
                self.reasons[login] = _("not in the directory")
            elif not person.active:
                self.reasons[login] = _("inactive in the directory")
            elif not account.user_id_of(person):
                self.reasons[login] = _("has no %(field)s for the IM platform") % {
                    "field": field}
            else:
                self.user_ids[login] = account.user_id_of(person)

    @property
    def reached(self):
        return list(self.user_ids)

    @property
    def not_reached(self):
        return list(self.reasons)

    def login_of(self, user_id):
        return next((login for login, uid in self.user_ids.items() if uid == user_id), user_id)

    def undelivered(self, invalid_user_ids, reason):
        """Move the logins of user ids the provider could not deliver to into `reasons`."""
        for user_id in invalid_user_ids:
            login = self.login_of(user_id)
            self.user_ids.pop(login, None)
            self.reasons[login] = reason

    def described(self):
        return ", ".join(f"{login} ({reason})" for login, reason in self.reasons.items())


# -- sending to persons -------------------------------------------------------------------------
@register
class SendIMMessage(Step):
    kind = "im_message"
    label = gettext_lazy("Send an IM message")
    description = gettext_lazy(
        "Sends a message card (title, body, link to the record) or a text to persons named "
        "by login id, through the enabled IM account. Outputs message (the console's message "
        "id), message_id (the IM platform's), sent_to, not_reached and reasons; persons who "
        "cannot be reached are reported, and the step fails only when nobody can be.")
    example = {"recipients": "{{ record.receiver }}",
               "title": "风险待处理：{{ record.title }}",
               "body": "提交于 {{ format_date(record.created_at, \"yyyy-MM-dd HH:mm\") }}，"
                       "已超时 1 天，请尽快处理。",
               "url": "https://oa.example.com/risk/view?requestid="
                      "{{ urlencode(record.request_id) }}"}
    Config = IMMessageConfig

    def run(self, settings, runtime):
        kind, card = message_of(settings)
        ids = login_ids(settings, "recipients")
        if not ids:
            raise StepFailed(_("The recipients are empty."))
        account = account_for(settings)
        directory = Directory(account, ids)
        row = IMMessage(account=account, recipients=ids, kind=kind, title=card.title[:200],
                        body=card.description, url=card.url[:1000], run=runtime.run)

        def refused(reason, transient=False):
            row.status, row.error = IMMessage.Status.FAILED, reason
            row.invalid_users = directory.not_reached
            row.save()
            return StepFailed(reason, transient=transient, output={
                "message": row.pk, "sent_to": directory.reached, "error": reason,
                "not_reached": directory.not_reached, "reasons": directory.reasons})

        if not directory.reached:
            raise refused(_("None of the recipients can be reached: %(who)s.")
                          % {"who": directory.described()})
        provider = provider_of(account)
        user_ids = list(directory.user_ids.values())
        try:
            if kind == IMMessage.Kind.TEXT:
                result = provider.send_text(user_ids, "\n".join(
                    part for part in (card.title, card.description, card.url) if part))
            else:
                result = provider.send_card(user_ids, card)
        except ProviderError as exc:
            raise refused(exc.reason, transient=not exc.permanent) from None
        directory.undelivered(result.invalid_users, _("the IM platform could not deliver to "
                                                       "them"))
        if not directory.reached:
            raise refused(_("The IM platform reached none of the recipients: %(who)s.")
                          % {"who": directory.described()})
        row.status = IMMessage.Status.SENT
        row.invalid_users = directory.not_reached
        row.provider_message_id = str(result.message_id or "")[:128]
        row.save()
        return StepResult(output={
            "message": row.pk, "message_id": row.provider_message_id,
            "sent_to": directory.reached, "not_reached": directory.not_reached,
            "reasons": directory.reasons})


# -- groups ---------------------------------------------------------------------------------
def live_matter_group(matter_type, matter_id):
    return (IMGroup.objects.filter(kind=Kind.MATTER, matter_type=matter_type,
                                   matter_id=matter_id)
            .exclude(status=Status.DISSOLVED).select_related("account").first())


def find_group(settings):
    """The IMGroup a send or change step names (by id or by matter)."""
    value = settings.get("group")
    if value not in (None, ""):
        if isinstance(value, bool) or not str(value).strip().isdigit():
            raise StepFailed(_("“group” is %(value)s, not a group's id in the console.")
                             % {"value": str(value)[:100]})
        group = IMGroup.objects.select_related("account").filter(pk=int(value)).first()
        if group is None:
            raise StepFailed(_("There is no IM group #%(id)s.") % {"id": value})
        return group
    matter_type = text(settings, "matter_type") or "request"
    matter_id = text(settings, "matter_id")
    if not matter_id:
        raise StepFailed(_("Neither “group” nor “matter_id” names a group (both are empty; "
                           "did the step that creates it fail?)."))
    group = live_matter_group(matter_type, matter_id)
    if group is None:
        raise StepFailed(_("The matter %(type)s %(id)s has no group (none was created, or "
                           "it was dissolved).") % {"type": matter_type, "id": matter_id})
    return group


def usable(group):
    """Refuse a group that is not there to use: dissolved (permanent) or still being created
    (another try may find it ready)."""
    if group.status == Status.DISSOLVED:
        raise StepFailed(_("The IM group “%(name)s” (#%(id)d) was dissolved.")
                         % {"name": group.name, "id": group.pk})
    if group.status == Status.CREATING or not group.provider_group_id:
        raise StepFailed(_("The IM group “%(name)s” (#%(id)d) is still being created.")
                         % {"name": group.name, "id": group.pk}, transient=True)


def group_output(group, **extra):
    return {"group": group.pk, "group_id": group.provider_group_id, "name": group.name,
            "kind": group.kind, "status": group.status, "owner": group.owner,
            "members": list(group.members or []), "admins": list(group.admins or []),
            "topic_state": group.topic_state, "matter_type": group.matter_type,
            "matter_id": group.matter_id, **extra}


def chat_id(group, runtime):
    """The chat id asked of the provider: the same for every try at creating this group, so
    a try after a lost answer finds the chat instead of making another. Derived from the
    console's secret key, so two consoles (or a reset database) never share one."""
    if group.kind == Kind.MATTER:
        generation = IMGroup.objects.filter(
            kind=Kind.MATTER, matter_type=group.matter_type, matter_id=group.matter_id,
            status=Status.DISSOLVED).count()
        identity = f"matter|{group.matter_type}|{group.matter_id}|{generation}"
    else:
        made = IMGroup.objects.filter(created_by_run=runtime.run).exclude(
            status=Status.CREATING).count()
        identity = f"run|{runtime.run.pk}|{made}"
    digest = salted_hmac("actionflow.im.chat_id", f"{group.account_id}|{identity}").hexdigest()
    return "oa" + digest[:30]


def stale_before():
    return timezone.now() - timedelta(seconds=django_settings.FLOW_RUN_LEASE_SECONDS)


@register
class CreateIMGroup(Step):
    kind = "im_group_create"
    label = gettext_lazy("Create an IM group")
    description = gettext_lazy(
        "Creates a group chat of kind normal, topic (starts “under discussion”) or matter "
        "(tied to one record: a second group for the same matter is refused until the first "
        "is dissolved). Owner, members and admins are login ids; the owner defaults to the "
        "flow's operator. Outputs group (the console's id, for later steps), group_id (the IM "
        "platform's), name, members and not_reached.")
    example = {"kind": "matter", "name": "风险讨论：{{ record.title }}",
               "owner": "{{ record.creator }}",
               "members": "{{ record.receiver }}, wangwu", "admins": [],
               "matter_type": "request", "matter_id": "{{ record.request_id }}",
               "matter_url": "https://oa.example.com/risk/view?requestid="
                             "{{ urlencode(record.request_id) }}"}
    Config = GroupCreateConfig

    def run(self, settings, runtime):
        kind = settings.get("kind") or Kind.NORMAL
        name = limited(settings, "name", 100, required=True)
        owner = text(settings, "owner") or runtime.operator
        if not owner:
            raise StepFailed(_("The group needs an owner: set “owner”, or the flow's operator."))
        admins = login_ids(settings, "admins")
        members = list(dict.fromkeys([owner, *login_ids(settings, "members"), *admins]))
        matter_type = matter_id = matter_url = ""
        if kind == Kind.MATTER:
            matter_type = limited(settings, "matter_type", 40) or "request"
            matter_id = limited(settings, "matter_id", 64, required=True)
            matter_url = checked_url(settings, "matter_url", 1000)
        account = account_for(settings)
        directory = Directory(account, members)
        if owner not in directory.user_ids:
            raise StepFailed(_("The owner %(owner)s cannot be reached: %(reason)s.")
                             % {"owner": owner, "reason": directory.reasons[owner]})
        reached = directory.reached
        group = self.claim(runtime, account=account, kind=kind, name=name, owner=owner,
                           members=reached, admins=[a for a in admins if a in reached],
                           topic_state=TopicState.DISCUSSING if kind == Kind.TOPIC else "",
                           matter_type=matter_type, matter_id=matter_id,
                           matter_url=matter_url)
        if group.status == Status.ACTIVE:
            return StepResult(output=group_output(group, not_reached=directory.not_reached,
                                                  reasons=directory.reasons))
        provider = provider_of(account)
        wanted = chat_id(group, runtime)
        try:
            try:
                result = provider.create_group(
                    name, directory.user_ids[owner],
                    [directory.user_ids[login] for login in reached], group_id=wanted)
                provider_id = result.group_id
            except ProviderError as exc:
                if exc.code not in CHAT_EXISTS.get(account.provider, ()):
                    raise
                provider_id = self.adopt(group, wanted, exc)
        except ProviderError as exc:
            # The claim goes, so a later try (or run) can create the group.
            IMGroup.objects.filter(pk=group.pk, status=Status.CREATING).delete()
            raise failed(exc, output={"error": exc.reason,
                                      "not_reached": directory.not_reached}) from None
        ready = IMGroup.objects.filter(pk=group.pk, status=Status.CREATING).update(
            status=Status.ACTIVE, provider_group_id=provider_id[:64], updated_at=timezone.now())
        group.refresh_from_db()
        if not ready:
            # Another process took the claim over as abandoned while the provider was slow.
            raise StepFailed(_("The IM group “%(name)s” (#%(id)d) was taken over or dissolved "
                               "while it was being created; its chat on the IM platform is "
                               "%(chat)s.") % {"name": group.name, "id": group.pk,
                                                "chat": provider_id})
        return StepResult(output=group_output(group, not_reached=directory.not_reached,
                                              reasons=directory.reasons))

    def claim(self, runtime, **fields):
        """The IMGroup row in status "creating": the place of the group, held before the
        provider is called so that no other process creates a second group of the matter."""
        for _attempt in range(2):
            try:
                with transaction.atomic():
                    return IMGroup.objects.create(status=Status.CREATING,
                                                  created_by_run=runtime.run, **fields)
            except IntegrityError:
                existing = live_matter_group(fields["matter_type"], fields["matter_id"])
            if existing is None:
                continue  # dissolved in between: claim again
            if existing.status == Status.ACTIVE and existing.created_by_run_id == runtime.run.pk:
                # This run made it before its worker was lost (the step runs again on
                # resume): the group is the step's own result, not a second create.
                return existing
            if self.take_over(existing, runtime, fields):
                existing.refresh_from_db()
                return existing
            raise StepFailed(_(
                "The matter %(type)s %(id)s already has the group “%(name)s” (#%(group)d, "
                "%(status)s); dissolve it first.") % {
                "type": fields["matter_type"], "id": fields["matter_id"], "name": existing.name,
                "group": existing.pk, "status": existing.get_status_display().lower()})
        raise StepFailed(_("The matter %(type)s %(id)s changed while its group was being "
                           "claimed; try again.") % {"type": fields["matter_type"],
                                                     "id": fields["matter_id"]},
                         transient=True)

    @staticmethod
    def take_over(existing, runtime, fields):
        """A claim left in "creating" by this run (its worker was lost mid-step) or by a run
        that stopped long ago is abandoned: take it, with a conditional update so that only
        one process does."""
        if existing.status != Status.CREATING:
            return False
        if existing.created_by_run_id != runtime.run.pk and existing.updated_at >= stale_before():
            return False
        return IMGroup.objects.filter(
            pk=existing.pk, status=Status.CREATING, updated_at=existing.updated_at,
        ).update(created_by_run=runtime.run, updated_at=timezone.now(), **fields) == 1

    @staticmethod
    def adopt(group, wanted, exc):
        """The provider has a chat with our id: an earlier try made it and its answer was
        lost. Unless another group of the console holds it, it is this group's chat."""
        holder = IMGroup.objects.filter(account=group.account, provider_group_id=wanted).exclude(
            pk=group.pk).first()
        if holder is not None:
            raise ProviderError(_("The IM platform already has the chat %(chat)s, which "
                                  "belongs to the group “%(name)s” (#%(id)d).")
                                % {"chat": wanted, "name": holder.name, "id": holder.pk},
                                permanent=True, code=exc.code) from None
        return wanted


@register
class SendIMGroupMessage(Step):
    kind = "im_group_message"
    label = gettext_lazy("Send to an IM group")
    description = gettext_lazy(
        "Sends a message card (title, body, link) or a text to a group, named by its id in "
        "the console (e.g. {{ steps.mkgroup.group }}) or by its matter. Refused for a "
        "dissolved group and for a topic group whose topic has ended. Outputs message, "
        "message_id, group and group_id.")
    example = {"group": "{{ steps.mkgroup.group }}", "type": "card",
               "title": "风险待处理：{{ record.title }}",
               "body": "已超时 2 天未处理，请在群内讨论。",
               "url": "https://oa.example.com/risk/view?requestid="
                      "{{ urlencode(record.request_id) }}", "button_text": "查看"}
    Config = GroupMessageConfig

    def run(self, settings, runtime):
        kind, card = message_of(settings)
        group = find_group(settings)
        usable(group)
        if group.kind == Kind.TOPIC and group.topic_state == TopicState.ENDED:
            raise StepFailed(_("The topic of the IM group “%(name)s” (#%(id)d) has ended; "
                               "nobody can speak in it any more.")
                             % {"name": group.name, "id": group.pk})
        row = IMMessage(account=group.account, group=group, kind=kind, title=card.title[:200],
                        body=card.description, url=card.url[:1000], run=runtime.run)
        provider = provider_of(group.account)
        try:
            if kind == IMMessage.Kind.TEXT:
                result = provider.send_group_text(group.provider_group_id, "\n".join(
                    part for part in (card.title, card.description, card.url) if part))
            else:
                result = provider.send_group_card(group.provider_group_id, card)
        except ProviderError as exc:
            row.status, row.error = IMMessage.Status.FAILED, exc.reason
            row.save()
            raise failed(exc, output={"message": row.pk, "group": group.pk,
                                      "error": exc.reason}) from None
        row.status = IMMessage.Status.SENT
        row.provider_message_id = str(result.message_id or "")[:128]
        row.save()
        return StepResult(output={"message": row.pk, "message_id": row.provider_message_id,
                                  "group": group.pk, "group_id": group.provider_group_id})


@register
class UpdateIMGroup(Step):
    kind = "im_group_update"
    label = gettext_lazy("Change an IM group's settings")
    description = gettext_lazy(
        "Changes a group's name, owner, members, admins or topic state (discussing / ended), "
        "or marks it dissolved. Allowed only when the flow's operator is the group's owner or "
        "one of its admins. Outputs the group as it is afterwards and changed (what changed).")
    example = {"group": "{{ steps.mkgroup.group }}", "add_members": "{{ record.receiver }}",
               "topic_state": "ended"}
    Config = GroupUpdateConfig

    def run(self, settings, runtime):
        group = find_group(settings)
        operator = runtime.operator
        if not group.can_manage(operator):
            raise StepFailed(_(
                "The flow's operator %(operator)s is neither the owner nor an admin of the IM "
                "group “%(name)s” (#%(id)d), so may not change it.") % {
                "operator": operator or _("(none set)"), "name": group.name, "id": group.pk})
        usable(group)
        if settings.get("dissolve") in serializers.BooleanField.TRUE_VALUES:
            return self.dissolve(group)
        return self.change(group, settings)

    @staticmethod
    def dissolve(group):
        # WeCom has no API to dissolve an app chat: the console stops using it.
        now = timezone.now()
        IMGroup.objects.filter(pk=group.pk).exclude(status=Status.DISSOLVED).update(
            status=Status.DISSOLVED, dissolved_at=now, updated_at=now)
        group.refresh_from_db()
        return StepResult(output=group_output(group, changed=["status"]))

    def change(self, group, settings):
        name = limited(settings, "name", 100)
        owner = text(settings, "owner")
        add = login_ids(settings, "add_members")
        remove = login_ids(settings, "remove_members")
        add_admins = login_ids(settings, "add_admins")
        remove_admins = login_ids(settings, "remove_admins")
        topic_state = text(settings, "topic_state")
        if topic_state and group.kind != Kind.TOPIC:
            raise StepFailed(_("Only a topic group has a topic state; “%(name)s” is a %(kind)s.")
                             % {"name": group.name, "kind": group.get_kind_display()})
        if topic_state and topic_state not in TopicState.values:
            raise StepFailed(_("The topic state is discussing or ended, not “%(state)s”.")
                             % {"state": topic_state[:50]})
        members = list(group.members or [])
        final_owner = owner or group.owner
        if final_owner in remove:
            raise StepFailed(_("%(login)s owns the group and cannot be removed; give the group "
                               "another owner first.") % {"login": final_owner})
        # An admin is a member: adding one who is not makes them one.
        new_members = [m for m in dict.fromkeys([*add, *add_admins, *([owner] if owner else [])])
                       if m not in members and m not in remove]
        directory = Directory(group.account, list(dict.fromkeys(
            [*new_members, *(m for m in remove if m in members), *([owner] if owner else [])])))
        if owner and owner not in directory.user_ids:
            raise StepFailed(_("The new owner %(owner)s cannot be reached: %(reason)s.")
                             % {"owner": owner, "reason": directory.reasons[owner]})
        adding = [m for m in new_members if m in directory.user_ids]
        removing = [m for m in remove if m in members and m in directory.user_ids]
        # A member the directory no longer knows is still in our list; drop them here, the
        # platform has no id to remove.
        dropped = [m for m in remove if m in members and m not in directory.user_ids]
        changed = []
        if name and name != group.name:
            changed.append("name")
        if owner and owner != group.owner:
            changed.append("owner")
        if adding or removing or dropped:
            changed.append("members")
        provider_changes = {}
        if "name" in changed:
            provider_changes["name"] = name
        if "owner" in changed:
            provider_changes["owner"] = directory.user_ids[owner]
        if adding:
            provider_changes["add_members"] = [directory.user_ids[m] for m in adding]
        if removing:
            provider_changes["remove_members"] = [directory.user_ids[m] for m in removing]
        if provider_changes:
            try:
                provider_of(group.account).update_group(group.provider_group_id,
                                                        **provider_changes)
            except ProviderError as exc:
                raise failed(exc, output={"group": group.pk, "error": exc.reason}) from None
        with transaction.atomic():
            # Re-read under a lock: another run may have changed the lists meanwhile.
            fresh = IMGroup.objects.select_for_update().get(pk=group.pk)
            gone = set(removing) | set(dropped)
            fresh.members = [m for m in dict.fromkeys([*(fresh.members or []), *adding])
                             if m not in gone]
            if "name" in changed:
                fresh.name = name
            if "owner" in changed:
                fresh.owner = owner
            admins_before = list(fresh.admins or [])
            fresh.admins = [a for a in dict.fromkeys([*admins_before, *add_admins])
                            if a in fresh.members and a not in remove_admins]
            if fresh.admins != admins_before:
                changed.append("admins")
            if topic_state and topic_state != fresh.topic_state:
                fresh.topic_state = topic_state
                changed.append("topic_state")
            fresh.save()
        return StepResult(output=group_output(fresh, changed=changed,
                                              not_reached=directory.not_reached,
                                              reasons=directory.reasons))


__all__ = ["CreateIMGroup", "SendIMGroupMessage", "SendIMMessage", "UpdateIMGroup"]
