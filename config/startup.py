"""What a long-lived process does once it has loaded the console."""
import gc

# Collections are counted in container objects allocated: at Python's 700, a bulk ingest call
# (1,000 events: their dicts, model instances, rows) collected young objects hundreds of times,
# tracing every survivor again at each. Nearly all of it is freed by reference counting at
# the call's end, before a collection at this threshold comes.
YOUNG_THRESHOLD = 20_000


def freeze_loaded_objects():
    """Take every object alive once the console is loaded (modules, classes, the URLconf,
    settings: ~140,000, kept for the process's life) out of the garbage collector's reach,
    and collect young objects less often.

    A full collection walked that whole framework again (~70 ms) every few ingest calls or
    delivery batches. Measured in the push benchmark: the web server spent 15 % of its CPU
    collecting, a worker process 5 %; after this, next to nothing. Frozen objects are still
    freed by reference counting; only a cycle among them would stay, and they live as long
    as the process anyway."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # the views and serializers, imported on a first request
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
