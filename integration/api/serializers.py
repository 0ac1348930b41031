"""Read serializers of the source side's models."""
from rest_framework import serializers

from ..models import (
    Department,
    Group,
    InboundEvent,
    PartTimeIdentity,
    Person,
    Post,
    Request,
    Role,
    Subcompany,
    TodoItem,
    Workflow,
    WorkflowType,
)


class _Ref(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="external_id", read_only=True, **kwargs)


class SubcompanyOut(serializers.ModelSerializer):
    parent = _Ref()

    class Meta:
        model = Subcompany
        fields = ["id", "external_id", "name", "active", "parent", "updated_at"]


class DepartmentOut(serializers.ModelSerializer):
    subcompany = _Ref()
    parent = _Ref()

    class Meta:
        model = Department
        fields = ["id", "external_id", "name", "active", "subcompany", "parent", "updated_at"]


class PostOut(serializers.ModelSerializer):
    department = _Ref()

    class Meta:
        model = Post
        fields = ["id", "external_id", "name", "active", "department", "updated_at"]


class PersonOut(serializers.ModelSerializer):
    subcompany = _Ref()
    department = _Ref()
    post = _Ref()

    class Meta:
        model = Person
        fields = ["id", "external_id", "login_id", "name", "work_code", "email", "mobile", "active",
                  "subcompany", "department", "post", "updated_at"]


class _MembersOut(serializers.ModelSerializer):
    members = serializers.SlugRelatedField(slug_field="external_id", many=True, read_only=True)


class RoleOut(_MembersOut):
    class Meta:
        model = Role
        fields = ["id", "external_id", "name", "active", "members", "updated_at"]


class GroupOut(_MembersOut):
    class Meta:
        model = Group
        fields = ["id", "external_id", "name", "active", "members", "updated_at"]


class IdentityOut(serializers.ModelSerializer):
    person = _Ref()
    subcompany = _Ref()
    department = _Ref()
    post = _Ref()

    class Meta:
        model = PartTimeIdentity
        fields = ["id", "external_id", "person", "subcompany", "department", "post", "active",
                  "updated_at"]


class WorkflowTypeOut(serializers.ModelSerializer):
    class Meta:
        model = WorkflowType
        fields = ["id", "external_id", "name"]


class WorkflowOut(serializers.ModelSerializer):
    workflow_type = _Ref()
    nodes = serializers.SerializerMethodField()

    class Meta:
        model = Workflow
        fields = ["id", "workflow_id", "name", "workflow_type", "active", "nodes"]

    def get_nodes(self, obj) -> list[dict]:
        return [{"node_id": n.node_id, "name": n.name} for n in obj.nodes.all()]


class RequestOut(serializers.ModelSerializer):
    class Meta:
        model = Request
        fields = ["id", "request_id", "title", "workflow_ref", "creator", "current_node", "status",
                  "form_data", "sign_opinions", "created_at", "last_event_at", "updated_at"]


class TodoItemOut(serializers.ModelSerializer):
    request_id = serializers.CharField(source="request.request_id", read_only=True)
    request_title = serializers.CharField(source="request.title", read_only=True)

    class Meta:
        model = TodoItem
        fields = ["id", "request_id", "request_title", "receiver", "identity", "data_set",
                  "business_status", "node_name", "viewed", "task_id", "created_at",
                  "last_event_at", "last_event_id", "updated_at"]


class InboundEventOut(serializers.ModelSerializer):
    class Meta:
        model = InboundEvent
        fields = ["id", "event_id", "kind", "source", "request_id", "data_set", "business_status",
                  "moment", "receiver", "workflow_id", "occurred_at", "received_at", "applied",
                  "flags", "payload"]
