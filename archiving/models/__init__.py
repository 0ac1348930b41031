"""Archive integration (档案集成): targets, schemes, the archive log and its job outbox."""
from .log import ArchiveJob, ArchiveLog
from .scheme import ArchiveScheme
from .target import ArchiveTarget

__all__ = ["ArchiveJob", "ArchiveLog", "ArchiveScheme", "ArchiveTarget"]
