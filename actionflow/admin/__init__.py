"""Admin of action flows: flows with their steps and versions (flows.py), runs with their
step logs (runs.py), IM groups and messages (im.py)."""
from . import flows, im, runs  # noqa: F401
