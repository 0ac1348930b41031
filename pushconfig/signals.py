"""Signals of the push side."""
from django.dispatch import Signal

# Sent after the transaction that opened or closed a breaker commits.
# kwargs: fuse (FuseRecord), event ("open" or "recover")
fuse_changed = Signal()
