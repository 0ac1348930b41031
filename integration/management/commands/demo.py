"""Demo data, so a newcomer sees the console at work at once: an administrator, a small org
directory, a workflow catalog, an enabled push config aimed at the console's own sandbox
target, and todo / workflow events fed through the real inbox — so the worker pushes the
todos to the sandbox and the push log and the sandbox arrivals fill at once.

Idempotent: the directory goes through the sync upsert (same OA ids → updates), the push
config is created once (by its identifier), and the events carry fixed event ids, so a second
run reports them as duplicates and changes nothing. Only the administrator's password and API
token change: the password is random on each run unless one is given, and the token is issued
anew (a key is shown once only); and the push config follows the console's address when --url
names another one.
"""
import datetime as dt
import os
import secrets
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from integration.events import TodoEventSerializer, WorkflowEventSerializer, validate_batch
from integration.inbox import ACCEPTED, DUPLICATE, ingest_todo_events, ingest_workflow_events
from integration.models import ApiToken, Workflow
from integration.sync import INVALID, KINDS, upsert
from pushconfig.models import PushConfig

ADMIN_USERNAME = "admin"
TOKEN_NAME = "demo"
SANDBOX_IDENTIFIER = "sandbox-demo"
ARCHIVE_FLOW = "费用报销归档（演示）"
ARCHIVE_NODE = "部门经理审批"
SANDBOX_SYSTEM_NAME = "沙箱演示"
SANDBOX_PARAMS = {"sysCode": "DEMO", "toViewRemark": False}

SC = "demo-sc-east"
FIN, HR = "demo-dept-finance", "demo-dept-hr"
FIN_MANAGER_POST, HR_POST = "demo-post-finance-manager", "demo-post-hr-specialist"
PART_TIME = "demo-identity-wangfang-finance"
EXPENSE, LEAVE = "demo-wf-expense", "demo-wf-leave"

# (OA id, login id, name, department, post)
PERSONS = [
    ("demo-p-zhangwei", "zhangwei", "张伟", FIN, ""),
    ("demo-p-wangfang", "wangfang", "王芳", HR, HR_POST),
    ("demo-p-lina", "lina", "李娜", HR, ""),
    ("demo-p-liuyang", "liuyang", "刘洋", FIN, FIN_MANAGER_POST),
    ("demo-p-chenjing", "chenjing", "陈静", HR, ""),
    ("demo-p-yanglei", "yanglei", "杨磊", FIN, ""),
]
# A receiver the directory does not know: its events are accepted and flagged.
UNKNOWN_RECEIVER = "zhaoqiang"

DIRECTORY = [
    ("subcompanies", [{"external_id": SC, "name": "华东分公司"}]),
    ("departments", [
        {"external_id": FIN, "name": "财务部", "subcompany": SC},
        {"external_id": HR, "name": "人力资源部", "subcompany": SC},
    ]),
    ("posts", [
        {"external_id": FIN_MANAGER_POST, "name": "财务经理", "department": FIN},
        {"external_id": HR_POST, "name": "人事专员", "department": HR},
    ]),
    ("persons", [
        {"external_id": ext, "login_id": login, "name": name, "subcompany": SC,
         "department": dept, "post": post or None, "work_code": f"E{index:04d}",
         "email": f"{login}@example.com"}
        for index, (ext, login, name, dept, post) in enumerate(PERSONS, start=1)
    ]),
    ("roles", [{"external_id": "demo-role-approver", "name": "审批人",
                "members": ["demo-p-liuyang", "demo-p-chenjing", "demo-p-wangfang"]}]),
    ("groups", [{"external_id": "demo-group-finance", "name": "财务共享组",
                 "members": ["demo-p-zhangwei", "demo-p-liuyang", "demo-p-yanglei"]}]),
    ("identities", [{"external_id": PART_TIME, "person": "demo-p-wangfang", "subcompany": SC,
                     "department": FIN, "post": FIN_MANAGER_POST}]),
    ("workflow-types", [{"external_id": "demo-wft-admin", "name": "行政审批"}]),
    ("workflows", [
        {"workflow_id": EXPENSE, "name": "费用报销", "workflow_type": "demo-wft-admin",
         "nodes": [{"node_id": "n1", "name": "申请"}, {"node_id": "n2", "name": "部门经理审批"},
                   {"node_id": "n3", "name": "财务审批"}, {"node_id": "n4", "name": "归档"}]},
        {"workflow_id": LEAVE, "name": "请假申请", "workflow_type": "demo-wft-admin",
         "nodes": [{"node_id": "n1", "name": "申请"}, {"node_id": "n2", "name": "直属上级审批"},
                   {"node_id": "n3", "name": "人事备案"}]},
    ]),
]

REQUESTS = {
    # request id: (title, workflow, creator, created minutes ago)
    "DEMO-1001": ("费用报销-张伟-上海差旅费", EXPENSE, "zhangwei", 360),
    "DEMO-1002": ("请假申请-李娜-年假3天", LEAVE, "lina", 240),
    "DEMO-1003": ("费用报销-杨磊-办公用品采购", EXPENSE, "yanglei", 90),
    "DEMO-1004": ("请假申请-刘洋-病假1天", LEAVE, "liuyang", 45),
    "DEMO-1005": ("费用报销-陈静-培训费", EXPENSE, "chenjing", 15),
}

# (event id, request id, data set, business status, node, receiver, identity, minutes ago)
TODO_EVENTS = [
    ("demo-todo-01", "DEMO-1001", "todo", "arrive", "部门经理审批", "liuyang", "", 300),
    ("demo-todo-02", "DEMO-1001", "done", "approve", "部门经理审批", "liuyang", "", 240),
    ("demo-todo-03", "DEMO-1001", "todo", "arrive", "财务审批", "wangfang", PART_TIME, 239),
    ("demo-todo-04", "DEMO-1002", "todo", "arrive", "直属上级审批", "chenjing", "", 230),
    ("demo-todo-05", "DEMO-1002", "done", "approve", "直属上级审批", "chenjing", "", 180),
    ("demo-todo-06", "DEMO-1002", "todo", "arrive", "人事备案", "wangfang", "", 179),
    ("demo-todo-07", "DEMO-1002", "done", "approve", "人事备案", "wangfang", "", 120),
    ("demo-todo-08", "DEMO-1002", "over", "archive", "人事备案", "chenjing", "", 119),
    ("demo-todo-09", "DEMO-1002", "over", "archive", "人事备案", "wangfang", "", 119),
    ("demo-todo-10", "DEMO-1003", "todo", "arrive", "部门经理审批", "liuyang", "", 80),
    ("demo-todo-11", "DEMO-1003", "todo", "cc", "部门经理审批", "zhangwei", "", 80),
    ("demo-todo-12", "DEMO-1003", "todo", "urge", "部门经理审批", "liuyang", "", 20),
    ("demo-todo-13", "DEMO-1004", "todo", "arrive", "直属上级审批", "yanglei", "", 40),
    ("demo-todo-14", "DEMO-1004", "todo", "forward", "直属上级审批", UNKNOWN_RECEIVER, "", 30),
    ("demo-todo-15", "DEMO-1005", "todo", "arrive", "部门经理审批", "liuyang", "", 10),
]


class Command(BaseCommand):
    help = ("Create demo data (idempotent): the admin user with an API token, a small org "
            "directory, a workflow catalog, a push config aimed at the built-in sandbox and "
            "todo events fed through the inbox.")

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            help="Password for the 'admin' user. Default: $DEMO_ADMIN_PASSWORD, else a new "
                 "random one on each run.")
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/admin/",
            help="The admin URL to print (default: %(default)s). The demo push config sends "
                 "to the sandbox of the same console (<origin>/sandbox/ecology).")

    def handle(self, *args, **options):
        password = options["password"] or os.environ.get("DEMO_ADMIN_PASSWORD") \
            or secrets.token_urlsafe(12)
        now = timezone.now().replace(microsecond=0)
        with transaction.atomic():
            key = self._admin(password)
            self._directory()
            sandbox, created = self._sandbox_config(options["url"])
            archive_flow = self._archive_flow()
        # The push config exists before the events arrive, so the inbox plans their pushes.
        # Workflow events first: they are older than the last todo events of their request,
        # and the inbox flags an event older than the state it already holds.
        flow = self._ingest(WorkflowEventSerializer, ingest_workflow_events,
                            self._workflow_events(now))
        todo = self._ingest(TodoEventSerializer, ingest_todo_events, self._todo_events(now))
        self.stdout.write(
            _("Demo data ready: %(persons)d persons, %(requests)d requests; todo events "
              "%(todo_new)d new / %(todo_old)d already there, workflow events %(flow_new)d new "
              "/ %(flow_old)d already there.")
            % {"persons": len(PERSONS), "requests": len(REQUESTS), "todo_new": todo[ACCEPTED],
               "todo_old": todo[DUPLICATE], "flow_new": flow[ACCEPTED],
               "flow_old": flow[DUPLICATE]})
        self.stdout.write(
            _("Push config “%(name)s” (%(identifier)s, %(created)s, %(enabled)s) pushes the "
              "todos to %(url)s: see the push log and the sandbox arrivals in the admin.")
            % {"name": sandbox.system_name, "identifier": sandbox.identifier,
               "created": _("newly created") if created else _("already there"),
               "enabled": _("enabled") if sandbox.enabled else _("disabled"),
               "url": sandbox.server_url})
        self.stdout.write(
            _("Action flow “%(name)s” archives %(workflow)s requests after “%(node)s” into "
              "%(folder)s: see the flow runs and the archive log in the admin.")
            % {"name": archive_flow.name, "workflow": EXPENSE, "node": ARCHIVE_NODE,
               "folder": settings.VAR_DIR / "archive"})
        self.stdout.write("")
        # The lines below keep their labels whatever the language: scripts read the key
        self.stdout.write(self.style.SUCCESS(_("Admin login")))
        self.stdout.write(f"  URL:       {options['url']}")
        self.stdout.write(f"  username:  {ADMIN_USERNAME}")
        self.stdout.write(f"  password:  {password}")
        self.stdout.write(f"  API token: {key}  (header  Authorization: Token {key})")

    def _archive_flow(self):
        """Seed 000 on demo data: a directory archive target under var/, a flow-triggered
        scheme of the expense workflow, and the ready-made archive flow after the manager's
        approval — the demo's workflow event of that node archives DEMO-1001 on the worker."""
        from actionflow.flow_templates import create_from_template
        from actionflow.models import ActionFlow
        from archiving.models import ArchiveScheme, ArchiveTarget

        flow = ActionFlow.objects.filter(name=ARCHIVE_FLOW).first()
        if flow is not None:
            return flow
        workflow = Workflow.objects.get(workflow_id=EXPENSE)
        (settings.VAR_DIR / "archive").mkdir(parents=True, exist_ok=True)
        target, _created = ArchiveTarget.objects.get_or_create(
            name="演示归档目录", defaults={"kind": "directory",
                                     "params": {"base_dir": str(settings.VAR_DIR / "archive")}})
        if not ArchiveScheme.objects.filter(workflow=workflow).exists():
            scheme = ArchiveScheme(
                name="费用报销归档方案", enabled=True, workflow=workflow, node_name=ARCHIVE_NODE,
                moment="after", trigger="flow", target=target, include_sign_opinions=True,
                field_mapping=[{"form_field": "amount", "metadata_key": "金额", "required": True},
                               {"form_field": "destination", "metadata_key": "目的地"}])
            scheme.full_clean()
            scheme.save()
        return create_from_template("archive_intias_wf", name=ARCHIVE_FLOW, workflow=workflow,
                                    node_name=ARCHIVE_NODE, moment="after", enabled=True,
                                    user=ADMIN_USERNAME)

    def _admin(self, password):
        User = get_user_model()
        user, _ = User.objects.get_or_create(username=ADMIN_USERNAME)
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        # Only the digest of the last run's key is stored: it cannot be printed again, so the
        # demo token is replaced, like the password.
        ApiToken.objects.filter(user=user, name=TOKEN_NAME).delete()
        _token, key = ApiToken.objects.issue(user, TOKEN_NAME)
        return key

    def _sandbox_config(self, admin_url):
        """The demo's push config, aimed at this console's sandbox in the e-cology protocol.
        Created once; later runs keep an administrator's edits and only follow the console's
        address (a different --url) while it still points at a sandbox."""
        server_url = sandbox_url(admin_url)
        config = PushConfig.objects.filter(identifier=SANDBOX_IDENTIFIER).first()
        if config is not None:
            if config.server_url != server_url and "/sandbox/" in config.server_url:
                config.server_url = server_url
                config.save(update_fields=["server_url", "updated_at"])
            return config, False
        config = PushConfig(enabled=True, identifier=SANDBOX_IDENTIFIER,
                            system_name=SANDBOX_SYSTEM_NAME, server_url=server_url,
                            push_type="ecology")
        config.full_clean()
        params = config.transport_class.Params(data=SANDBOX_PARAMS)
        if not params.is_valid():
            raise CommandError(_("Demo push config parameters refused: %(errors)s")
                               % {"errors": params.errors})
        config.set_params(dict(params.validated_data))
        config.save()
        return config, True

    def _directory(self):
        for kind, items in DIRECTORY:
            refused = [r for r in upsert(KINDS[kind], items) if r["outcome"] == INVALID]
            if refused:
                # e.g. a real person already holds one of the demo login ids
                raise CommandError(_("Demo %(kind)s refused: %(refused)s")
                                   % {"kind": kind, "refused": refused})

    def _ingest(self, serializer_class, ingest, events):
        valid, errors = validate_batch(serializer_class, events)
        if errors:
            raise CommandError(_("Demo events do not validate: %(errors)s") % {"errors": errors})
        counts = {ACCEPTED: 0, DUPLICATE: 0}
        for outcome in ingest(valid, source="demo"):
            counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
        return counts

    def _todo_events(self, now):
        events = []
        for event_id, rid, data_set, status, node, receiver, identity, ago in TODO_EVENTS:
            title, workflow, creator, created = REQUESTS[rid]
            events.append({
                "event_id": event_id, "data_set": data_set, "business_status": status,
                "request_id": rid, "request_title": title, "workflow_id": workflow,
                "node_name": node, "creator": creator, "receiver": receiver,
                "identity": identity, "created_at": _ago(now, created),
                "occurred_at": _ago(now, ago), "viewed": data_set != "todo",
            })
        return events

    def _workflow_events(self, now):
        title, workflow, creator, created = REQUESTS["DEMO-1001"]
        common = {"request_id": "DEMO-1001", "request_title": title, "workflow_id": workflow,
                  "creator": creator, "created_at": _ago(now, created),
                  "form_data": {"amount": 3860.5, "currency": "CNY", "destination": "上海",
                                "days": 3}}
        opinion = {"node_name": "部门经理审批", "operator": "liuyang", "opinion": "同意，按标准报销。",
                   "action": "approve", "signed_at": _ago(now, 240)}
        return [
            {**common, "event_id": "demo-flow-01", "moment": "after", "node_id": "n2",
             "node_name": "部门经理审批", "operator": "liuyang", "status": "running",
             "sign_opinions": [opinion], "occurred_at": _ago(now, 240)},
            {**common, "event_id": "demo-flow-02", "moment": "before", "node_id": "n3",
             "node_name": "财务审批", "operator": "wangfang", "status": "running",
             "sign_opinions": [opinion], "occurred_at": _ago(now, 239)},
        ]


def sandbox_url(admin_url):
    """The sandbox's e-cology address on the console the admin URL belongs to:
    http://127.0.0.1:8000/admin/ → http://127.0.0.1:8000/sandbox/ecology."""
    parts = urlsplit(admin_url)
    path = parts.path.rstrip("/")
    if path.endswith("/admin"):
        path = path[: -len("/admin")]
    return urlunsplit((parts.scheme, parts.netloc, path + "/sandbox/ecology", "", ""))


def _ago(now, minutes):
    return (now - dt.timedelta(minutes=minutes)).isoformat()
