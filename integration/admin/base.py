"""Admin habits for big tables: no full COUNT(*), joined foreign keys, indexed filters."""
from django.contrib import admin


class BigTableAdmin(admin.ModelAdmin):
    show_full_result_count = False
    list_per_page = 50


class ReadOnlyAdmin(BigTableAdmin):
    """For records the OA owns: the console shows them, the OA changes them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
