"""/api/v1/archive-schemes/: archive schemes (归档方案), CRUD. The id is a snowflake number,
shown as text (JavaScript cannot hold it exactly). The field mapping and the export node are
validated as in the admin; errors name the field."""
import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets

from integration.api.fields import SlugRelatedField
from integration.events import check_json, check_text
from integration.models import Workflow

from ..mapping import validate_mapping
from ..models import ArchiveScheme, ArchiveTarget
from ..models.scheme import MAPPING_HELP, node_problem


class ArchiveSchemeSerializer(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True, help_text=gettext_lazy(
        "The scheme id (a number, as text): what the Action's channelIds names."))
    workflow = SlugRelatedField(
        slug_field="workflow_id", queryset=Workflow.objects.all(),
        help_text=gettext_lazy("The workflow id (the scheme's workflow path)."))
    target = serializers.PrimaryKeyRelatedField(queryset=ArchiveTarget.objects.all())
    target_name = serializers.CharField(source="target.name", read_only=True)
    field_mapping = serializers.JSONField(required=False, help_text=MAPPING_HELP)

    class Meta:
        model = ArchiveScheme
        fields = ["id", "name", "enabled", "workflow", "node_name", "moment", "trigger",
                  "field_mapping", "include_sign_opinions", "target", "target_name",
                  "created_at", "updated_at"]

    def validate_name(self, value):
        return check_text(value)

    def validate_field_mapping(self, value):
        check_json(value)
        try:
            return validate_mapping(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate_node_name(self, value):
        return check_text(value).strip()

    def validate(self, attrs):
        workflow = attrs.get("workflow", self.instance.workflow if self.instance else None)
        node = attrs.get("node_name", self.instance.node_name if self.instance else "")
        if workflow is not None and node and ("workflow" in attrs or "node_name" in attrs):
            problem = node_problem(workflow, node)
            if problem:
                raise serializers.ValidationError({"node_name": [problem]})
        return attrs


class ArchiveSchemeFilter(django_filters.FilterSet):
    workflow = django_filters.CharFilter(field_name="workflow__workflow_id",
                                         help_text=gettext_lazy("A workflow id."))

    class Meta:
        model = ArchiveScheme
        fields = ["workflow", "enabled", "trigger", "target"]


@extend_schema(tags=["archive"])
class ArchiveSchemeViewSet(viewsets.ModelViewSet):
    """Archive schemes: a workflow, its export moment (node, before/after), the trigger (the
    Action, or automatically at the moment), the field mapping, whether sign opinions are
    included, and the target."""

    serializer_class = ArchiveSchemeSerializer
    queryset = ArchiveScheme.objects.select_related("workflow", "target")
    filterset_class = ArchiveSchemeFilter
    search_fields = ["name"]
    lookup_value_regex = r"\d{1,19}"
