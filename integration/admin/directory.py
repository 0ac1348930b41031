from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import Department, Group, PartTimeIdentity, Person, Post, Role, Subcompany
from .base import BigTableAdmin


@admin.register(Subcompany)
class SubcompanyAdmin(BigTableAdmin):
    list_display = ["name", "external_id", "parent", "active", "updated_at"]
    list_filter = ["active"]
    search_fields = ["name", "external_id"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]


@admin.register(Department)
class DepartmentAdmin(BigTableAdmin):
    list_display = ["name", "external_id", "subcompany", "parent", "active", "updated_at"]
    list_filter = ["active", "subcompany"]
    search_fields = ["name", "external_id"]
    list_select_related = ["subcompany", "parent"]
    autocomplete_fields = ["subcompany", "parent"]


@admin.register(Post)
class PostAdmin(BigTableAdmin):
    list_display = ["name", "external_id", "department", "active"]
    list_filter = ["active"]
    search_fields = ["name", "external_id"]
    list_select_related = ["department"]
    autocomplete_fields = ["department"]


class IdentityInline(admin.TabularInline):
    model = PartTimeIdentity
    extra = 0
    autocomplete_fields = ["subcompany", "department", "post"]


@admin.register(Person)
class PersonAdmin(BigTableAdmin):
    list_display = ["name", "login_id", "work_code", "email", "mobile", "department", "active"]
    list_filter = ["active", "subcompany", "department"]
    search_fields = ["name", "login_id", "work_code", "email", "mobile", "external_id"]
    list_select_related = ["department"]
    autocomplete_fields = ["subcompany", "department", "post"]
    inlines = [IdentityInline]
    fieldsets = [
        (None, {"fields": ["external_id", "login_id", "name", "active"]}),
        (_("Contact"), {"fields": ["work_code", "email", "mobile"]}),
        (_("Organisation"), {"fields": ["subcompany", "department", "post"]}),
    ]


class _MembersAdmin(BigTableAdmin):
    list_display = ["name", "external_id", "member_count", "active"]
    list_filter = ["active"]
    search_fields = ["name", "external_id"]
    autocomplete_fields = ["members"]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(member_total=Count("members"))

    @admin.display(description=_("members"), ordering="member_total")
    def member_count(self, obj):
        return obj.member_total


@admin.register(Role)
class RoleAdmin(_MembersAdmin):
    pass


@admin.register(Group)
class GroupAdmin(_MembersAdmin):
    pass


@admin.register(PartTimeIdentity)
class PartTimeIdentityAdmin(BigTableAdmin):
    list_display = ["external_id", "person", "subcompany", "department", "post", "active"]
    list_filter = ["active"]
    search_fields = ["external_id", "person__name", "person__login_id"]
    list_select_related = ["person", "subcompany", "department", "post"]
    autocomplete_fields = ["person", "subcompany", "department", "post"]
