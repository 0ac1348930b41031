"""Filters shared by the REST APIs."""
import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from integration.events import fits_utc
from integration.ids import BIGINT_MAX


@extend_schema_field(OpenApiTypes.INT64)
class IdFilter(django_filters.NumberFilter):
    """An id: an integer of the bigint range, or a 400 naming the filter. (A decimal filter
    passes any number on, and SQLite cannot bind one past 64 bits: a 500.)"""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", -BIGINT_MAX - 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)


class MomentField(IsoDateTimeField):
    """An ISO 8601 moment that the database can compare: SQLite is sent it in UTC, and a
    year-1 or year-9999 moment with an offset falls outside Python's years there (a 500)."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is not None and not fits_utc(moment):
            raise forms.ValidationError(_("Date and time out of range."))
        return moment


class MomentFilter(django_filters.IsoDateTimeFilter):
    field_class = MomentField
