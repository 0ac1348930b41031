from .flow import ActionFlow, FlowStep, FlowVersion, TriggerMark
from .im import IMGroup, IMMessage
from .run import FlowRun, StepRun

__all__ = ["ActionFlow", "FlowRun", "FlowStep", "FlowVersion", "IMGroup", "IMMessage",
           "StepRun", "TriggerMark"]
