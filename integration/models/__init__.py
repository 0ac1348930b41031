"""Models of the source side: what the OA tells us, and how we keep it."""
from .callbacks import CallbackLog, CallbackSource
from .directory import (
    Department,
    Group,
    PartTimeIdentity,
    Person,
    Post,
    Role,
    Subcompany,
)
from .im import IMAccount, SmsGateway
from .inbox import InboundEvent
from .todo import TodoItem
from .tokens import ApiToken
from .workflow import Request, Workflow, WorkflowNode, WorkflowType

__all__ = [
    "ApiToken", "CallbackLog", "CallbackSource", "Department", "Group", "IMAccount",
    "InboundEvent", "PartTimeIdentity", "Person", "Post", "Request", "Role", "SmsGateway",
    "Subcompany", "TodoItem", "Workflow", "WorkflowNode", "WorkflowType",
]
