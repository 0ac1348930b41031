"""Serializer fields the API modules share."""
from rest_framework import serializers

from ..events import check_text


class SlugRelatedField(serializers.SlugRelatedField):
    """DRF's SlugRelatedField, refusing text PostgreSQL cannot take as a query parameter (a
    NUL character, a lone surrogate) with a 400 naming the field: the lookup would fail with
    an error DRF does not catch, a 500."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            check_text(data)
        return super().to_internal_value(data)
