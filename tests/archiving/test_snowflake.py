"""Scheme ids: snowflake numbers like the seed's 831746869586460686, time-ordered, unique
across threads and processes, and a clash with another process's id drawn again on save."""
import multiprocessing
import threading

import pytest

from archiving import snowflake
from archiving.models import ArchiveScheme

from .conftest import directory_target, make_scheme


def test_ids_look_like_the_seeds_and_grow_with_time():
    first, second = snowflake.next_id(), snowflake.next_id()
    assert len(str(first)) == 18 and 0 < first < 2 ** 63
    assert second > first


def test_threads_never_draw_the_same_id():
    drawn, lock = [], threading.Lock()

    def draw():
        mine = [snowflake.next_id() for _ in range(2000)]
        with lock:
            drawn.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(drawn)) == len(drawn) == 8000


def _node_of(value):
    return (value >> snowflake.SEQUENCE_BITS) & ((1 << snowflake.NODE_BITS) - 1)


def _draw_in_child(queue):
    import os

    queue.put((os.getpid(), snowflake.next_id()))


def _expected_node(pid):
    import socket
    import zlib

    return zlib.crc32(f"{socket.gethostname()}:{pid}".encode()) & 0x3FF


def test_a_forked_process_draws_with_node_bits_of_its_own():
    import os

    snowflake.next_id()  # the parent has drawn: its node and sequence are set
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_draw_in_child, args=(queue,))
    child.start()
    child_pid, drawn = queue.get(timeout=30)
    child.join(timeout=30)
    # The parent's node and sequence were inherited by the fork and dropped.
    assert child_pid != os.getpid()
    assert _node_of(drawn) == _expected_node(child_pid)


@pytest.mark.django_db
def test_saving_a_scheme_whose_id_is_taken_draws_another(workflow, tmp_path):
    taken = make_scheme(workflow, directory_target(tmp_path))
    clash = ArchiveScheme(pk=taken.pk, name="撞号", workflow=workflow, node_name="批准",
                          target=taken.target)
    clash.save()
    assert clash.pk != taken.pk
    assert ArchiveScheme.objects.count() == 2
    assert ArchiveScheme.objects.get(pk=taken.pk).name == taken.name
