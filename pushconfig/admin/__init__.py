"""Admin pages of unified todo push: push configs (with suites and connection tests), the
push log, fuse records and the sandbox target."""
from . import alerts, config, log, sandbox  # noqa: F401  (registers the pages)
from . import address  # noqa: F401  (push addresses and the cloud bridge)
from . import task  # noqa: F401  (batch push tasks)
