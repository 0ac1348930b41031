"""One module per figure family; each function takes the run's Context and adds rows."""
from .admin import admin
from .cleanup import cleanup
from .compare import compare
from .history import history
from .ingest import ingest
from .latency import latency
from .push import push

SCENARIO_FUNCTIONS = {"ingest": ingest, "push": push, "latency": latency, "compare": compare,
                      "history": history, "cleanup": cleanup, "admin": admin}
