"""A push target for the fault-injection suite: an e-cology OFS receiver on 127.0.0.1 whose
behaviour can be switched at any time, and a ledger of every answer it gave.

Modes:
- "up": answers operResult "1" (success) after `delay` seconds (0 unless made slow);
- "503", "500": the HTTP status, no answer body worth reading;
- "busy": HTTP 200 with the protocol's own failure, operResult "0" and a "busy" message
  (e-cology's transient refusal: retried, counted by the breaker);
- "rotate": 503, 500 and busy in turn, request by request;
- "hang": waits `hang` seconds before answering (longer than PUSH_READ_TIMEOUT);
- "refuse": the port is closed (a TCP proxy in front of the receiver stops listening and drops
  every open connection);
- "cut": the headers of a success and half its body, then the connection closes (a target
  restarting, a proxy dropping the line, in the middle of an answer).

Counting, by the `Idempotency-Key` header the console sends: a key is delivered when the target
answered it success once; every further success answer for it is a duplicate.
"""
import json
import socket
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from tests.receivers import Answer, Receiver

from .proxy import TCPProxy

SUCCESS = {"syscode": "REL", "dataType": "", "operType": "", "operResult": "1", "message": ""}
BUSY = {"syscode": "REL", "dataType": "", "operType": "", "operResult": "0",
        "message": "系统繁忙，请稍后再试 (busy)"}
FAILING = ("503", "500", "busy")


@dataclass
class Answered:
    at: float           # time.monotonic() when the request arrived
    key: str            # Idempotency-Key
    flowid: str
    receiver: str
    isremark: str
    verdict: str        # success, failure, hang


class Target:
    def __init__(self, mode="up", delay=0.0, hang=30.0):
        self.mode = mode
        self.delay = delay
        self.hang = hang
        self.ledger: list[Answered] = []
        self._lock = threading.Lock()
        self._turn = 0
        self.receiver = Receiver(self._answer)
        # A caller that gave up (a timeout, a killed worker) leaves a broken pipe: expected.
        self.receiver.server.handle_error = lambda request, address: None
        self.cutter = Cutter(self._log)
        self.front = TCPProxy(upstream_port=self._upstream(mode)).start()
        if mode == "refuse":
            self.front.stop()  # closed; start() listens on the same port again
        self.url = f"http://127.0.0.1:{self.front.port}"

    def _upstream(self, mode):
        return self.cutter.port if mode == "cut" else self.receiver.server.server_port

    def switch(self, mode, delay=None):
        if delay is not None:
            self.delay = delay
        upstream = self._upstream(mode)
        if mode == "refuse" or upstream != self.front.upstream[1]:
            self.front.stop()  # open connections go too: new ones reach the new upstream
            self.front.upstream = (self.front.upstream[0], upstream)
        self.mode = mode
        if mode != "refuse":
            self.front.start()

    def close(self):
        self.front.stop()
        self.cutter.close()
        self.receiver.close()

    # -- answering -------------------------------------------------------------------------
    def _log(self, headers, raw_body, verdict):
        try:
            body = json.loads(raw_body)
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        headers = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            self.ledger.append(Answered(time.monotonic(), headers.get("idempotency-key", ""),
                                        str(body.get("flowid", "")), str(body.get("receiver", "")),
                                        str(body.get("isremark", "")), verdict))

    def _answer(self, got):
        with self._lock:
            mode = self.mode
            if mode == "rotate":
                mode = FAILING[self._turn % len(FAILING)]
                self._turn += 1
        self._log(got.headers, got.body, {"up": "success", "hang": "hang"}.get(mode, "failure"))
        if mode == "up":
            return Answer(body=SUCCESS, delay=self.delay)
        if mode == "busy":
            return Answer(body=BUSY)
        if mode == "hang":
            return Answer(body=SUCCESS, delay=self.hang)
        if mode in ("refuse", "cut"):  # a request that slipped in as the port closed
            return Answer(503, "closing")
        return Answer(int(mode), f"HTTP {mode}")

    # -- counting --------------------------------------------------------------------------
    def entries(self):
        with self._lock:
            return list(self.ledger)

    def successes(self):
        return [e for e in self.entries() if e.verdict == "success"]

    def figures(self, accepted_keys):
        """accepted, delivered, duplicates, lost for the keys the console accepted."""
        accepted_keys = set(accepted_keys)
        answered = Counter(e.key for e in self.successes())
        delivered = {k for k in answered if k in accepted_keys}
        entries = self.entries()
        verdicts = Counter(e.verdict for e in entries)
        return {
            "accepted": len(accepted_keys),
            "delivered": len(delivered),
            "duplicates": sum(n - 1 for n in answered.values()),
            "lost": len(accepted_keys) - len(delivered),
            "unexpected": sorted(k for k in answered if k not in accepted_keys),
            "requests": len(entries),
            **{f"answers_{verdict}": n for verdict, n in sorted(verdicts.items())
               if verdict != "success"},
        }

    def duplicated_keys(self):
        answered = Counter(e.key for e in self.successes())
        return sorted(k for k, n in answered.items() if n > 1)

    def order_violations(self):
        """Per (request, receiver): the todo (isremark 0) must have been answered success
        before the done (isremark 2) is even sent, and successes must run todo, done."""
        by_key = defaultdict(list)
        for entry in self.entries():
            by_key[(entry.flowid, entry.receiver)].append(entry)
        wrong = {}
        for key, entries in by_key.items():
            succeeded = [e.isremark for e in entries if e.verdict == "success"]
            first_done = next((i for i, e in enumerate(entries) if e.isremark == "2"), None)
            todo_ok = next((i for i, e in enumerate(entries)
                            if e.isremark == "0" and e.verdict == "success"), None)
            distinct = list(dict.fromkeys(succeeded))
            if distinct not in (["0", "2"], ["0"], []) or (
                    first_done is not None and (todo_ok is None or first_done < todo_ok)):
                wrong[key] = [(e.isremark, e.verdict) for e in entries]
        return wrong


class Cutter:
    """Answers every request with the headers of a success and half of its body, then closes
    the connection."""

    def __init__(self, log):
        self.log = log
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="cutter").start()

    def _accept(self):
        while True:
            try:
                conn, _address = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")[1:]
            headers = dict(line.split(": ", 1) for line in lines if ": " in line)
            length = int({k.lower(): v for k, v in headers.items()}.get("content-length", 0))
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            self.log(headers, body, "cut")
            answer = json.dumps(SUCCESS).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(answer) + answer[: len(answer) // 2])
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept loop
        except OSError:
            pass
        self.sock.close()
