"""/api/v1/fuse-records/: each outage of a push config's target (iut_send_fuse_recovery) with
when it fused and recovered, and the alerts sent for it per channel. Read-only, scoped like
push configs; needs pushconfig.view_fuserecord."""
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets

from ..models import AlertLog, FuseRecord
from ..models.scope import restrict


class AlertLogOut(serializers.ModelSerializer):
    class Meta:
        model = AlertLog
        fields = ["event", "channel", "outcome", "permanent", "attempts", "detail", "subject",
                  "content", "claimed_at", "sent_at"]


class FuseRecordOut(serializers.ModelSerializer):
    config_identifier = serializers.CharField(source="config.identifier", read_only=True)
    alert_logs = AlertLogOut(many=True, read_only=True)

    class Meta:
        model = FuseRecord
        fields = ["id", "config", "config_identifier", "create_time", "recover_time", "reason",
                  "backlog", "probes", "alert_logs"]


@extend_schema(tags=["push"])
class FuseRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    """Fuse records (熔断记录): when a target's circuit breaker opened (`create_time`) and
    closed again (`recover_time`, empty while fused), and the alerts of each channel."""

    serializer_class = FuseRecordOut
    filterset_fields = ["config"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        query = FuseRecord.objects.select_related("config").prefetch_related("alert_logs")
        return restrict(query, self.request.user, "config__organization")
