"""Cursor pagination by id: constant cost on tables of millions of rows (no COUNT, no OFFSET)."""
from rest_framework.pagination import CursorPagination


class CursorIdPagination(CursorPagination):
    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 1000
