"""POST /api/v1/archive/intias_wf: the archive-specific door to the serverless Action
intias_wf 1.0, with the seed's inputs as a JSON object.

The answer is the Action's outputs — `code`, `msg`, `status`, `data` — with HTTP 200 when the
inputs were right (`status` says whether every scheme archived), or HTTP 400 when an input was
refused, adding `errors` {input name: [message]} as every API error does. The generic
`/api/v1/actions/<group>/<version>/invoke` of action flows runs the same Action.
"""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..action import INPUT_CODES, Code, answer, archive_request
from ..vocabulary import LogTrigger
from . import requires


class IntiasWfIn(serializers.Serializer):
    workflowId = serializers.CharField(help_text=gettext_lazy("Required. The workflow id."))
    requestId = serializers.CharField(help_text=gettext_lazy("Required. The request id."))
    creatorId = serializers.CharField(help_text=gettext_lazy(
        "Required. The request's creator (login id or OA person id)."))
    channelIds = serializers.JSONField(required=False, allow_null=True, help_text=gettext_lazy(
        "Optional scheme ids: a JSON list string [\"831746869586460686\","
        "\"830697806837481486\"], a list, or comma-separated text. Empty: every enabled "
        "scheme of the workflow with the flow trigger."))


class SchemeResultOut(serializers.Serializer):
    schemeId = serializers.CharField()
    schemeName = serializers.CharField()
    status = serializers.BooleanField()
    code = serializers.CharField()
    msg = serializers.CharField()
    logId = serializers.CharField()
    checksum = serializers.CharField()
    size = serializers.IntegerField(allow_null=True)
    location = serializers.CharField()


class IntiasWfOut(serializers.Serializer):
    code = serializers.CharField(help_text=gettext_lazy("OK, or the refusal / failure code."))
    msg = serializers.CharField()
    status = serializers.BooleanField(help_text=gettext_lazy(
        "True only when every scheme archived."))
    data = SchemeResultOut(many=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                   required=False,
                                   help_text=gettext_lazy("On a 400: the refused input and why."))


class IntiasWfView(APIView):
    """Archive a request with its workflow's schemes (the Action intias_wf 1.0). Runs
    synchronously. Needs archiving.add_archivelog."""

    permission_classes = [requires("archiving.add_archivelog")]

    @extend_schema(tags=["archive"], request=IntiasWfIn,
                   responses={200: IntiasWfOut, 400: IntiasWfOut}, operation_id="archive_intias_wf")
    def post(self, request):
        if not isinstance(request.data, dict):
            message = _("Send the inputs as a JSON object.")
            body = answer(Code.INVALID_INPUT, message,
                          errors={"non_field_errors": [message]})
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        result = archive_request(request.data, LogTrigger.API, request.user.get_username())
        code = (status.HTTP_400_BAD_REQUEST if result["code"] in INPUT_CODES
                else status.HTTP_200_OK)
        return Response(result, status=code)
