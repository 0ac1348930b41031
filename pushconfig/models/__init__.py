"""Models of unified todo push: configs with their interception rules, the push log, and push
addresses."""
from .address import AddressBinding, AddressParameter, CloudBridgeConfig, PushAddress
from .alerts import AlertLog  # noqa: F401
from .breaker import Breaker, FuseRecord
from .config import PersonRule, PushConfig
from .log import DeliveryLane, InFlightBatch, PushAttempt, PushRecord
from .sandbox import SandboxArrival, SandboxBehaviour, SandboxMode, SandboxProtocol  # noqa: F401
from .scope import AdminScope
from .task import PushTask, TaskMode, TaskStatus  # noqa: F401  (batch push tasks)

__all__ = ["AddressBinding", "AddressParameter", "AdminScope", "Breaker", "CloudBridgeConfig",
           "DeliveryLane", "FuseRecord", "InFlightBatch", "PersonRule", "PushAddress", "PushAttempt",
           "PushConfig", "PushRecord"]
