"""Admin habits for big tables: no COUNT(*) of the table, joined foreign keys, indexed
filters, no "show all"."""
import json

from django.contrib import admin
from django.contrib.admin.options import ShowFacets
from django.core.paginator import Paginator
from django.utils.functional import cached_property
from django.utils.html import format_html

from integration.ids import parse_id


class IdListFilter(admin.SimpleListFilter):
    """A list filter on one foreign key (`field`), its choices an id each; a value that is not
    an id filters nothing."""

    field = ""

    def queryset(self, request, queryset):
        pk = parse_id(self.value())
        return queryset if pk is None else queryset.filter(**{self.field: pk})


def pretty_json(value, css_class=""):
    """A JSON value as indented, escaped text for a read-only admin field."""
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    if css_class:
        return format_html('<pre class="{}">{}</pre>', css_class, text)
    return format_html("<pre>{}</pre>", text)


class NoCountPaginator(Paginator):
    """Pages without COUNT(*): the page asked for is fetched with one row more, which says
    whether another page follows. The count it reports is exact up to the end of that page,
    plus one when more follow, so the admin links to the next page and never further."""

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True,
                 page_number=1):
        super().__init__(object_list, per_page, 0, allow_empty_first_page)
        self.page_number = max(1, page_number)

    @cached_property
    def rows(self):
        offset = (self.page_number - 1) * self.per_page
        return list(self.object_list[offset:offset + self.per_page + 1])

    @cached_property
    def count(self):
        return (self.page_number - 1) * self.per_page + len(self.rows)

    @property
    def has_more(self):
        return len(self.rows) > self.per_page

    def page(self, number):
        number = self.validate_number(number)
        if number == self.page_number:
            return self._get_page(self.rows[:self.per_page], number, self)
        return super().page(number)



class BigTableAdmin(admin.ModelAdmin):
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    list_per_page = 50
    list_max_show_all = 0  # "show all" would load the whole table
    paginator = NoCountPaginator

    def get_paginator(self, request, queryset, per_page, orphans=0,
                      allow_empty_first_page=True):
        try:
            number = int(request.GET.get("p", 1))
        except ValueError:
            number = 1
        # A page past the end is empty anyway; the cap keeps its OFFSET within bigint.
        number = min(number, 10 ** 9)
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page,
                              page_number=number)


class ReadOnlyAdmin(BigTableAdmin):
    """For records the OA owns: the console shows them, the OA changes them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
