"""REST API of archive integration: /api/v1/archive-targets/, /archive-target-kinds/,
/archive-schemes/, /archive-logs/ (+ rearchive) and /archive/intias_wf (the Action)."""
from rest_framework.permissions import BasePermission


def requires(perm):
    """A permission class that asks for one model permission."""

    class HasPermission(BasePermission):
        def has_permission(self, request, view):
            user = request.user
            return bool(user and user.is_authenticated and user.has_perm(perm))

    HasPermission.__name__ = "Has_" + perm.replace(".", "_")
    return HasPermission
