"""Admin of push addresses (推送地址管理): the list, the form with its ordered parameters and
bound push configs, bulk enable/disable, the preview page (row action), and the one cloud-bridge
configuration.

Push addresses and the cloud bridge concern every organization, so an administrator confined
to one (decentralised administration) does not see them."""
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ..addresses import preview, validate_operator, validate_request_id
from ..models import AddressBinding, AddressParameter, CloudBridgeConfig, PushAddress
from ..models.address import ValueKind, check_parameters
from ..models.scope import scoped_organization


class ConsoleWideAdmin(admin.ModelAdmin):
    """Hidden from administrators scoped to one organization: these settings span them all."""

    def _unscoped(self, request):
        return scoped_organization(request.user) is None

    def has_module_permission(self, request):
        return self._unscoped(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._unscoped(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return self._unscoped(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return self._unscoped(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._unscoped(request) and super().has_delete_permission(request, obj)


# -- parameters --------------------------------------------------------------------------------
class ParameterForm(forms.ModelForm):
    class Meta:
        model = AddressParameter
        fields = ["position", "name", "remark", "kind", "value", "source"]
        widgets = {"position": forms.NumberInput(attrs={"style": "width: 4em"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.kind == ValueKind.CLOUD_BRIDGE:
            # The cloud bridge's names are fixed (seed 002); clean() keeps them right.
            self.fields["name"].disabled = True


class ParameterFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [form for form in self.forms
                if form.cleaned_data and not self._should_delete_form(form)]
        kept.sort(key=lambda form: form.cleaned_data.get("position") or 0)
        problem = check_parameters(self.instance, [form.instance for form in kept])
        if problem:
            raise forms.ValidationError(problem["parameters"])


class ParameterInline(admin.TabularInline):
    model = AddressParameter
    form = ParameterForm
    formset = ParameterFormSet
    extra = 1
    verbose_name = gettext_lazy("parameter")
    verbose_name_plural = gettext_lazy(
        "parameters, in order (a cloud-bridge parameter's name is fixed and filled in for you)")


# -- bindings ----------------------------------------------------------------------------------
class BindingFormSet(forms.BaseInlineFormSet):
    def clean(self):
        if any(self.errors):
            return
        seen, twice = set(), False
        for form in self.forms:
            config = form.cleaned_data.get("config") if form.cleaned_data else None
            if config is None or self._should_delete_form(form):
                continue
            if config.pk in seen:
                form.add_error("config", _("The push config “%(config)s” is bound to this push "
                                           "address twice; bind a config once and switch on "
                                           "the addresses it takes from here.")
                               % {"config": config})
                twice = True
            seen.add(config.pk)
        if not twice:
            super().clean()  # Django's own duplicate check, which cannot name the config


class BindingInline(admin.TabularInline):
    model = AddressBinding
    formset = BindingFormSet
    fields = ["config", "pc", "app", "adaptive"]
    extra = 1
    verbose_name = gettext_lazy("bound push config")
    verbose_name_plural = gettext_lazy(
        "bound push configs (switch on the addresses each takes from here; at least one)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("config")


# -- preview -----------------------------------------------------------------------------------
class PreviewForm(forms.Form):
    request_id = forms.CharField(
        label=gettext_lazy("request id"), max_length=64, validators=[validate_request_id],
        help_text=gettext_lazy("Digits only."))
    operator = forms.CharField(
        label=gettext_lazy("operator"), max_length=64,
        help_text=gettext_lazy("The login id of the person the todo goes to."))

    def clean_operator(self):
        # Here, not among the field's validators: those all run, so its own refusal of a
        # null character would be said twice.
        operator = self.cleaned_data["operator"]
        validate_operator(operator)
        return operator


@admin.register(PushAddress)
class PushAddressAdmin(ConsoleWideAdmin):
    list_display = ["name", "enabled", "redirect", "prefix", "bound_configs", "preview_link"]
    list_display_links = ["name"]
    list_filter = ["enabled", "redirect"]
    search_fields = ["name", "prefix"]
    fieldsets = [(gettext_lazy("Basic information"),
                  {"fields": ["enabled", "name", "redirect", "prefix"]})]
    inlines = [ParameterInline, BindingInline]
    actions = ["enable_addresses", "disable_addresses"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("bindings__config")

    @admin.display(description=gettext_lazy("bound push configs"))
    def bound_configs(self, obj):
        bindings = list(obj.bindings.all())
        if not bindings:
            return "—"
        return format_html_join(
            mark_safe("<br>"), "{} <small>({})</small>",
            ((b.config, ", ".join(str(AddressBinding._meta.get_field(k).verbose_name)
                                  for k in b.kinds)) for b in bindings))

    @admin.display(description=gettext_lazy("preview"))
    def preview_link(self, obj):
        url = reverse("admin:pushconfig_pushaddress_preview", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Preview"))

    @admin.action(description=gettext_lazy("Enable selected push addresses"),
                  permissions=["change"])
    def enable_addresses(self, request, queryset):
        count = queryset.update(enabled=True, updated_at=timezone.now())
        self.message_user(request, ngettext(
            "%(count)d push address was enabled.", "%(count)d push addresses were enabled.",
            count) % {"count": count}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Disable selected push addresses"),
                  permissions=["change"])
    def disable_addresses(self, request, queryset):
        count = queryset.update(enabled=False, updated_at=timezone.now())
        self.message_user(request, ngettext(
            "%(count)d push address was disabled.", "%(count)d push addresses were disabled.",
            count) % {"count": count}, messages.SUCCESS)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/preview/", wrap(self.preview_view),
                 name="pushconfig_pushaddress_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request, object_id):
        """GET: the form; with request id and operator filled in, the links of every bound
        config as a push would carry them now. Changes nothing."""
        address = self.get_object(request, unquote(object_id))
        if address is None:
            raise Http404(_("No such push address."))
        if not self.has_view_permission(request, address):
            raise PermissionDenied
        asked = any(name in request.GET for name in PreviewForm.base_fields)
        form = PreviewForm(request.GET if asked else None)
        outcome = None
        if asked and form.is_valid():
            outcome = preview(address, form.cleaned_data["request_id"],
                              form.cleaned_data["operator"])
            for row in outcome["results"]:
                row["links"] = [
                    (label, row[kind + "_url"], row["sources"][kind])
                    for kind, label in (("pc", _("PC address")), ("app", _("app address")),
                                        ("adaptive", _("adaptive address")))]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta, "original": address, "form": form, "outcome": outcome,
            "title": _("Preview of the push address “%(name)s”") % {"name": address.name},
            "change_url": reverse("admin:pushconfig_pushaddress_change", args=[address.pk]),
        }
        return TemplateResponse(request, "admin/pushconfig/pushaddress/preview.html", context)


@admin.register(CloudBridgeConfig)
class CloudBridgeConfigAdmin(ConsoleWideAdmin):
    """One row for the console: the list opens it (or the form to create it)."""

    fields = ["agent_key", "corp_key", "tenant_key"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not CloudBridgeConfig.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        current = CloudBridgeConfig.objects.first()
        if current is None:
            return HttpResponseRedirect(reverse("admin:pushconfig_cloudbridgeconfig_add"))
        return HttpResponseRedirect(reverse("admin:pushconfig_cloudbridgeconfig_change",
                                            args=[current.pk]))

    def response_post_save_change(self, request, obj):
        return HttpResponseRedirect(reverse("admin:index"))

    response_post_save_add = response_post_save_change
