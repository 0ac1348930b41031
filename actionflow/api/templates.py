"""/api/v1/flow-templates/: the ready-made flows (actionflow.flow_templates), and
POST /api/v1/flow-templates/<key>/create to make a flow from one — created disabled, its steps
checked like any save, published as version 1."""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from integration.api.fields import SlugRelatedField
from integration.models import Workflow
from integration.vocabulary import Moment

from ..flow_templates import REGISTRY, TemplateError, create_from_template
from ..models import ActionFlow
from .common import CanAddFlows, CanViewFlows, ObjectField, StrictFields
from .flows import ActionFlowSerializer


class TemplateOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    trigger = ObjectField(help_text=gettext_lazy("The trigger settings the template sets."))
    steps = serializers.ListField(child=ObjectField(),
                                  help_text=gettext_lazy("The steps it creates."))


class TemplateCreateIn(StrictFields, serializers.Serializer):
    name = serializers.CharField(max_length=ActionFlow._meta.get_field("name").max_length)
    workflow = SlugRelatedField(
        slug_field="workflow_id", queryset=Workflow.objects.all(), required=False,
        allow_null=True, help_text=gettext_lazy("The OA's workflow id (workflow trigger)."))
    node_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    moment = serializers.ChoiceField(choices=Moment.choices, required=False, allow_blank=True)

    def validate_name(self, value):
        value = value.strip()
        if ActionFlow.objects.filter(name=value).exists():
            raise serializers.ValidationError(
                _("An action flow named “%(name)s” exists already.") % {"name": value})
        return value


def template_entry(template):
    return {"key": template.key, "label": str(template.label),
            "description": str(template.description), "trigger": dict(template.trigger),
            "steps": [dict(step) for step in template.steps]}


@extend_schema(tags=["action flows"])
class FlowTemplateViewSet(viewsets.ViewSet):
    """Ready-made flows. Listing needs actionflow.view_actionflow; creating a flow from one
    needs actionflow.add_actionflow."""

    lookup_field = "key"
    lookup_value_regex = r"[^/]+"

    def get_permissions(self):
        return [(CanAddFlows() if self.action == "create_flow" else CanViewFlows())]

    @extend_schema(responses={200: TemplateOut(many=True)})
    def list(self, request):
        return Response([template_entry(t) for t in REGISTRY.values()])

    @extend_schema(
        parameters=[OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH,
                                     description=gettext_lazy("The template's key."))],
        request=TemplateCreateIn,
        responses={201: ActionFlowSerializer,
                   400: OpenApiResponse(OpenApiTypes.OBJECT,
                                        description=gettext_lazy("Errors by field.")),
                   404: OpenApiResponse(OpenApiTypes.OBJECT,
                                        description=gettext_lazy("No such template."))})
    @action(detail=True, methods=["post"], url_path="create")
    def create_flow(self, request, key=None):
        """A new, disabled flow from the template: `workflow`, `node_name` and `moment`
        replace the template's own when sent."""
        if key not in REGISTRY:
            return Response({"detail": _("There is no flow template “%(key)s”.") % {"key": key}},
                            status=status.HTTP_404_NOT_FOUND)
        body = TemplateCreateIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        overrides = {name: data[name] for name in ("workflow", "node_name", "moment")
                     if data.get(name)}
        try:
            flow = create_from_template(key, name=data["name"],
                                        user=request.user.get_username(), **overrides)
        except TemplateError as exc:
            raise serializers.ValidationError({"non_field_errors": [str(exc)]}) from None
        return Response(ActionFlowSerializer(flow, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)
