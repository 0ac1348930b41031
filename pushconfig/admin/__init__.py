"""Admin pages of unified todo push: push configs (with suites and connection tests) and the
push log."""
from . import config, log  # noqa: F401  (registers the pages)
