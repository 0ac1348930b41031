"""/api/v1/push-addresses/ (CRUD with nested parameters and bindings, POST <id>/preview) and
/api/v1/cloud-bridge (the one cloud-bridge configuration: GET, PUT, PATCH).

Parameters and bindings are validated by the model-level rules the admin uses
(`AddressParameter.clean`, `check_parameters`, `check_bindings`); errors name the field, nested
ones by position: {"bindings": {"1": {"pc": ["…"]}}}. Sending `parameters` or `bindings`
replaces them all, in the order sent; leaving one out (PATCH) keeps it. Push addresses concern
every organization: an administrator confined to one (decentralised administration) is refused.
"""
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from integration.api.permissions import ModelPermissions

from ..addresses import preview, validate_operator, validate_request_id
from ..models import AddressBinding, AddressParameter, CloudBridgeConfig, PushAddress, PushConfig
from ..models.address import ValueKind, check_bindings, check_parameters
from ..models.scope import scoped_organization
from .configs import requires


class ConsoleWide(BasePermission):
    message = gettext_lazy("Push addresses and the cloud bridge concern every organization; an "
                           "administrator confined to one organization cannot manage them.")

    def has_permission(self, request, view):
        return scoped_organization(request.user) is None


def _field_errors(exc):
    """A Django ValidationError as DRF errors, non-field errors under non_field_errors."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    return {("non_field_errors" if key == NON_FIELD_ERRORS else key): value
            for key, value in errors.items()}


class AddressParameterSerializer(serializers.ModelSerializer):
    name = serializers.CharField(
        max_length=100, required=False, allow_blank=True,
        help_text=gettext_lazy("Required, except for a cloud-bridge parameter, whose name is "
                               "fixed by its key and may be left out."))

    class Meta:
        model = AddressParameter
        fields = ["name", "remark", "kind", "value", "source"]

    def validate(self, attrs):
        parameter = AddressParameter(**attrs)
        try:
            parameter.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(_field_errors(exc)) from None
        given = (attrs.get("name") or "").strip()
        if parameter.kind == ValueKind.CLOUD_BRIDGE and given and given != parameter.name:
            raise serializers.ValidationError({"name": _(
                "A cloud-bridge parameter's name is fixed: %(name)s.") % {"name": parameter.name}})
        return {field: getattr(parameter, field) for field in self.Meta.fields}


class AddressBindingSerializer(serializers.ModelSerializer):
    config = serializers.PrimaryKeyRelatedField(queryset=PushConfig.objects.all(),
                                                help_text=gettext_lazy("A push config's id."))
    config_identifier = serializers.CharField(source="config.identifier", read_only=True)
    config_name = serializers.CharField(source="config.system_name", read_only=True)

    class Meta:
        model = AddressBinding
        fields = ["config", "config_identifier", "config_name", "pc", "app", "adaptive"]
        # The address's validate() applies the model rules with messages naming the clash;
        # DRF's generic unique validators would repeat them namelessly.
        validators = []


class PushAddressSerializer(serializers.ModelSerializer):
    parameters = AddressParameterSerializer(
        many=True, required=False,
        help_text=gettext_lazy("In order. Sending them replaces all of them."))
    bindings = AddressBindingSerializer(
        many=True, required=False,
        help_text=gettext_lazy("The push configs that take their PC, app or adaptive address "
                               "from here. Sending them replaces all of them."))

    class Meta:
        model = PushAddress
        fields = ["id", "enabled", "name", "redirect", "prefix", "parameters", "bindings",
                  "created_at", "updated_at"]

    def validate(self, attrs):
        instance = self.instance
        candidate = PushAddress(pk=instance.pk if instance else None, **{
            name: attrs.get(name, getattr(instance, name) if instance else PushAddress._meta
                            .get_field(name).get_default())
            for name in ("enabled", "name", "redirect", "prefix")})
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(_field_errors(exc)) from None

        if "parameters" in attrs:
            parameters = [AddressParameter(**row) for row in attrs["parameters"]]
        else:
            parameters = list(instance.parameters.all()) if instance else []
        problem = check_parameters(candidate, parameters)
        if problem:
            raise serializers.ValidationError({"parameters": [problem["parameters"]]})

        if "bindings" in attrs:
            bindings = [AddressBinding(**row) for row in attrs["bindings"]]
            errors = check_bindings(instance, bindings)
            if any(errors):  # keyed by position, as DRF keys its own errors of a list
                raise serializers.ValidationError({"bindings": {
                    index: {("non_field_errors" if key == NON_FIELD_ERRORS else key): [message]
                            for key, message in error.items()}
                    for index, error in enumerate(errors) if error}})
        return attrs

    def _save(self, address, validated_data):
        parameters = validated_data.pop("parameters", None)
        bindings = validated_data.pop("bindings", None)
        for name, value in validated_data.items():
            setattr(address, name, value)
        try:
            with transaction.atomic():
                address.save()
                if parameters is not None:
                    address.parameters.all().delete()
                    AddressParameter.objects.bulk_create(
                        AddressParameter(address=address, position=n, **row)
                        for n, row in enumerate(parameters))
                if bindings is not None:
                    address.bindings.all().delete()
                    AddressBinding.objects.bulk_create(
                        AddressBinding(address=address, **row) for row in bindings)
        except IntegrityError:
            # Another administrator bound the same config and kind in the meantime.
            raise serializers.ValidationError({"bindings": [_(
                "A binding clashed with a change saved at the same moment; reload and try "
                "again.")]}) from None
        return address

    def create(self, validated_data):
        return self._save(PushAddress(), validated_data)

    def update(self, instance, validated_data):
        return self._save(instance, validated_data)


class PreviewIn(serializers.Serializer):
    request_id = serializers.CharField(max_length=64, validators=[validate_request_id],
                                       help_text=gettext_lazy("Digits only."))
    operator = serializers.CharField(
        max_length=64,
        help_text=gettext_lazy("The login id of the person the todo goes to (in the directory)."))

    def validate_operator(self, value):
        # Here, not among the field's validators: those all run, so its own refusal of a
        # null character or a surrogate would be said twice.
        validate_operator(value)
        return value


class PreviewSourcesOut(serializers.Serializer):
    pc = serializers.CharField(allow_null=True)
    app = serializers.CharField(allow_null=True)
    adaptive = serializers.CharField(allow_null=True)


class PreviewRowOut(serializers.Serializer):
    config = serializers.IntegerField()
    identifier = serializers.CharField()
    system_name = serializers.CharField()
    enabled = serializers.BooleanField()
    receiver = serializers.CharField(help_text=gettext_lazy(
        "The operator as the target knows them."))
    problem = serializers.CharField(help_text=gettext_lazy(
        "Why the receiver cannot be mapped, if so."))
    pc_url = serializers.CharField()
    app_url = serializers.CharField()
    adaptive_url = serializers.CharField()
    sources = PreviewSourcesOut(help_text=gettext_lazy(
        "Per kind, the push address that built the link (null: the OA's own link)."))


class PreviewOut(serializers.Serializer):
    results = PreviewRowOut(many=True)
    warnings = serializers.ListField(child=serializers.CharField())


@extend_schema(tags=["push"])
class PushAddressViewSet(viewsets.ModelViewSet):
    """Push addresses (推送地址管理): URL templates replacing the OA's links in pushed todos,
    per push config and URL kind."""

    serializer_class = PushAddressSerializer
    permission_classes = [ModelPermissions, ConsoleWide]
    filterset_fields = ["enabled", "redirect"]
    search_fields = ["name", "prefix"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return PushAddress.objects.prefetch_related("parameters", "bindings__config")

    @extend_schema(request=PreviewIn, responses={200: PreviewOut})
    @action(detail=True, methods=["post"], url_path="preview",
            permission_classes=[requires("pushconfig.view_pushaddress"), ConsoleWide])
    def preview(self, request, pk=None):
        """For each bound push config, the PC, app and adaptive links a push of the request
        to the operator would carry now (a disabled address is previewed as if enabled, with
        a warning). Changes nothing. Needs pushconfig.view_pushaddress."""
        address = self.get_object()
        checked = PreviewIn(data=request.data)
        checked.is_valid(raise_exception=True)
        return Response(preview(address, checked.validated_data["request_id"],
                                checked.validated_data["operator"]))


class CloudBridgeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CloudBridgeConfig
        fields = ["agent_key", "corp_key", "tenant_key", "updated_at"]


@extend_schema(tags=["push"])
class CloudBridgeView(generics.RetrieveUpdateAPIView):
    """The cloud bridge (云桥配置): the keys cloud-bridge parameters send as
    wea_link_keep_ebAgentKey, wea_link_keep_ebCorpKey and wea_link_keep_ebTenantKey. One for
    the console; empty until saved."""

    serializer_class = CloudBridgeSerializer
    permission_classes = [ModelPermissions, ConsoleWide]
    queryset = CloudBridgeConfig.objects.all()

    def get_object(self):
        obj = CloudBridgeConfig.current()
        self.check_object_permissions(self.request, obj)
        return obj
