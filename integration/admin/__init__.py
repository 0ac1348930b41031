"""Admin pages of the source side, one module per concept."""
from . import callbacks, directory, im, inbox, tokens, workflow  # noqa: F401  (registers the pages)
