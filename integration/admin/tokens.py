"""Admin of API tokens. Adding one asks for a user and a name and answers with a page that
shows the key, the only time it is shown: the database keeps its digest, the pages (list,
change, delete, history) its first characters. No regenerating: delete it and add another."""
from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ..models import ApiToken

DETAILS = ["key_prefix", "created_at", "last_used_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "key_prefix", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["name", "user__username"]

    def get_fields(self, request, obj=None):
        return ["user", "name"] if obj is None else ["user", "name", *DETAILS]

    def get_readonly_fields(self, request, obj=None):
        # Moving a token to another user would hand that user's rights to whoever holds it.
        return [] if obj is None else ["user", *DETAILS]

    @admin.display(description=_("key"), ordering="prefix")
    def key_prefix(self, obj):
        return obj.masked_prefix if obj and obj.pk else "—"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            # A token acts as its user: only a superuser issues one in someone else's name.
            kwargs["queryset"] = get_user_model()._default_manager.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            # Kept on this object for response_add only; nothing stores or logs it.
            obj.issued_key = obj.set_key()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        key = getattr(obj, "issued_key", None)
        if key is None or IS_POPUP_VAR in request.POST:
            return super().response_add(request, obj, post_url_continue)
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "opts": opts, "title": _("API token created"), "token": obj, "key": key,
            "changelist_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist",
                                      current_app=self.admin_site.name),
        }
        # Not a message and not a redirect: either would carry the key through the session
        # or a cookie. The admin's views already send "Cache-Control: no-store".
        return TemplateResponse(request, "admin/integration/apitoken/key.html", context)
