"""Models of unified todo push: configs with their interception rules, and the push log."""
from .breaker import Breaker, FuseRecord
from .config import PersonRule, PushConfig
from .log import DeliveryLane, PushAttempt, PushRecord
from .sandbox import SandboxArrival, SandboxBehaviour, SandboxMode, SandboxProtocol  # noqa: F401
from .scope import AdminScope

__all__ = ["AdminScope", "Breaker", "FuseRecord", "DeliveryLane", "PersonRule", "PushAttempt", "PushConfig", "PushRecord"]
