"""A small threaded TCP proxy on 127.0.0.1, to make a service unreachable and bring it back.

`stop()` closes the listener AND every open connection (both sides: the client sees its
connection drop, the service sees its client leave), so new connections are refused and old
ones are gone — like a broker that went away. `start()` listens again on the same port.
`mute()` silences the connections open at that moment, both ways, without closing them — like
a firewall that forgot them — while new connections are served as before.
"""
import socket
import threading

LOCALHOST = "127.0.0.1"


class TCPProxy:
    def __init__(self, upstream_port=6379, upstream_host=LOCALHOST, port=0):
        self.upstream = (upstream_host, upstream_port)
        self.port = port
        self.accepted = 0  # connections accepted since created (all starts)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._muted: set[socket.socket] = set()
        self._listener = None
        self._stopping = None
        self._thread = None

    @property
    def running(self):
        return self._listener is not None

    def start(self):
        if self.running:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOCALHOST, self.port))
        listener.listen(128)
        listener.settimeout(0.1)  # the accept loop looks at its stop flag this often
        self.port = listener.getsockname()[1]
        self._listener, self._stopping = listener, threading.Event()
        self._thread = threading.Thread(target=self._accept, args=(listener, self._stopping),
                                        name=f"proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if not self.running:
            return
        listener, self._listener = self._listener, None
        self._stopping.set()
        self._thread.join(timeout=5)
        listener.close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _close(sock)

    def mute(self):
        with self._lock:
            self._muted |= self._sockets

    def close(self):
        self.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def open_connections(self):
        with self._lock:
            return len(self._sockets) // 2

    def _accept(self, listener, stopping):
        while not stopping.is_set():
            try:
                client, _address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if stopping.is_set():
                _close(client)
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self.accepted += 1
                self._sockets.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True,
                                 name=f"proxy-{self.port}-pump").start()

    def _pump(self, source, target):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if source not in self._muted:
                    target.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(target)
                self._muted.discard(source)
                self._muted.discard(target)
            _close(source)
            _close(target)


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
