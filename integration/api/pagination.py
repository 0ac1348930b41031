"""Cursor pagination by id: constant cost on tables of millions of rows (no COUNT, no OFFSET)."""
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from ..ids import parse_id


class CursorIdPagination(CursorPagination):
    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request):
        # A cursor is base64 the client can rewrite: a position that is not an id would
        # reach the id filter and fail there (a 500), so it is refused like any bad cursor.
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and parse_id(cursor.position) is None:
            raise NotFound(self.invalid_cursor_message)
        return cursor
