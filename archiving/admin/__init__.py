"""Admin pages of archive integration: targets (with connection tests), schemes, the archive
log (with manual re-archive) and the job outbox."""
from . import logs, schemes, targets  # noqa: F401  (registers the pages)
