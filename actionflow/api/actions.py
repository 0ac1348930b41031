"""/api/v1/actions/: the built-in serverless Actions (内置 serverless/Action) with their
declared inputs and outputs, and POST /api/v1/actions/<group>/<version>/invoke to run one
directly, as an action step would, with the caller as operator.

Inputs are checked as an action step's settings are (`steps.action.ActionConfig`): an input
the Action does not declare, or a required one left out, is a 400 naming `inputs`. What the
Action answers is the 200's `outputs`, a failure it reports in its outputs included (by
convention `status` false and `msg`); an ActionError is a 503 when retrying may help, else a
422.
"""
import logging

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..actions import REGISTRY, ActionContext, ActionError, UnknownAction, get_action
from ..steps.action import ActionConfig
from .common import CanRun, CanViewFlows, ObjectField, StrictFields

log = logging.getLogger(__name__)


class ParamOut(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    type = serializers.CharField(help_text=gettext_lazy("text, boolean, number or json."))
    required = serializers.BooleanField()
    help = serializers.CharField()


class ActionOut(serializers.Serializer):
    group = serializers.CharField()
    version = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    inputs = ParamOut(many=True)
    outputs = ParamOut(many=True)


class InvokeIn(StrictFields, serializers.Serializer):
    inputs = ObjectField(required=False, default=dict, help_text=gettext_lazy(
        "The Action's inputs by name (see its declared inputs)."))


class InvokeOut(serializers.Serializer):
    group = serializers.CharField()
    version = serializers.CharField()
    outputs = ObjectField(help_text=gettext_lazy("What the Action answered, by output name."))


class ActionFailedOut(serializers.Serializer):
    detail = serializers.CharField()
    transient = serializers.BooleanField(help_text=gettext_lazy("Whether trying again later may succeed."))


@extend_schema(tags=["action flows"])
class ActionListView(APIView):
    """The registered built-in Actions, by group and version. Needs
    actionflow.view_actionflow."""

    permission_classes = [CanViewFlows]

    @extend_schema(responses={200: ActionOut(many=True)})
    def get(self, request):
        return Response([cls.describe() for _key, cls in sorted(REGISTRY.items())])


_PATH = [OpenApiParameter("group", OpenApiTypes.STR, OpenApiParameter.PATH,
                          description=gettext_lazy("The Action's group, e.g. intias_wf.")),
         OpenApiParameter("version", OpenApiTypes.STR, OpenApiParameter.PATH,
                          description=gettext_lazy("The Action's version, e.g. 1.0."))]


@extend_schema(tags=["action flows"])
class ActionInvokeView(APIView):
    """Run one built-in Action with the given inputs (source "api", the caller's user name as
    operator). Needs actionflow.add_flowrun: invoking an Action does what a run would."""

    permission_classes = [CanRun & CanViewFlows]
    serializer_class = InvokeIn

    @extend_schema(parameters=_PATH, request=InvokeIn, responses={
        200: InvokeOut,
        400: OpenApiResponse(OpenApiTypes.OBJECT, description=gettext_lazy("Errors by field.")),
        404: OpenApiResponse(OpenApiTypes.OBJECT, description=gettext_lazy("No such Action.")),
        422: ActionFailedOut, 503: ActionFailedOut})
    def post(self, request, group, version):
        try:
            cls = get_action(group, version)
        except UnknownAction as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
        body = InvokeIn(data=request.data)
        body.is_valid(raise_exception=True)
        inputs = body.validated_data["inputs"]
        check = ActionConfig(data={"group": cls.group, "version": cls.version,
                                   "inputs": inputs})
        if not check.is_valid():
            raise serializers.ValidationError({"inputs": check.errors.get(
                "inputs", check.errors.get("non_field_errors", check.errors))})
        context = ActionContext(source="api", operator=request.user.get_username())
        try:
            outputs = cls().run(dict(inputs), context)
        except ActionError as exc:
            return Response({"detail": str(exc.reason), "transient": exc.transient},
                            status=status.HTTP_503_SERVICE_UNAVAILABLE if exc.transient
                            else status.HTTP_422_UNPROCESSABLE_ENTITY)
        except Exception:  # an Action's bug is logged and answered, never a bare 500 page
            log.exception("serverless Action %s %s raised", cls.group, cls.version)
            return Response({"detail": _("The Action %(group)s %(version)s failed unexpectedly; "
                                         "the console's log has the details.")
                             % {"group": cls.group, "version": cls.version}, "transient": False},
                            status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return Response({"group": cls.group, "version": cls.version,
                         "outputs": dict(outputs or {})})
