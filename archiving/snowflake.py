"""Snowflake-style ids for archive schemes, like the seed's "831746869586460686".

64 bits: 41 bits of milliseconds since 2020-01-01 UTC, 10 bits of node (this process), 12 bits
of sequence within the millisecond. Ids grow with time, fit a signed BIGINT for about 69
years, and two processes differ in the node bits. The node is derived from the host name and
the process id, so two processes can still draw the same node by chance: the model retries an
insert whose id is taken (ArchiveScheme.save), which makes a clash harmless rather than
impossible. JavaScript loses precision above 2**53, so the API shows these ids as strings.
"""
import os
import socket
import threading
import time
import zlib

EPOCH_MS = 1577836800000  # 2020-01-01T00:00:00Z
NODE_BITS, SEQUENCE_BITS = 10, 12
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1

_lock = threading.Lock()
_state = {"pid": None, "node": 0, "last_ms": -1, "sequence": 0}


def _node():
    seed = f"{socket.gethostname()}:{os.getpid()}".encode()
    return zlib.crc32(seed) & ((1 << NODE_BITS) - 1)


def next_id() -> int:
    with _lock:
        pid = os.getpid()
        if _state["pid"] != pid:  # a forked worker must not share its parent's node
            _state.update(pid=pid, node=_node(), last_ms=-1, sequence=0)
        now = int(time.time() * 1000)
        # A clock stepping back must not repeat ids: keep counting on the last millisecond.
        now = max(now, _state["last_ms"])
        if now == _state["last_ms"]:
            _state["sequence"] = (_state["sequence"] + 1) & MAX_SEQUENCE
            if _state["sequence"] == 0:
                while now <= _state["last_ms"]:
                    time.sleep(0.0002)
                    now = int(time.time() * 1000)
        else:
            _state["sequence"] = 0
        _state["last_ms"] = now
        return ((now - EPOCH_MS) << (NODE_BITS + SEQUENCE_BITS)) | (
            _state["node"] << SEQUENCE_BITS) | _state["sequence"]


def reseed():
    """Draw another node (after an id clash with another process)."""
    with _lock:
        _state["node"] = (_state["node"] + 1 + (os.getpid() & 0xFF)) & ((1 << NODE_BITS) - 1)
