"""Models of unified todo push: configs with their interception rules, and the push log."""
from .config import PersonRule, PushConfig
from .log import DeliveryLane, PushAttempt, PushRecord

__all__ = ["DeliveryLane", "PersonRule", "PushAttempt", "PushConfig", "PushRecord"]
