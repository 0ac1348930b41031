"""The receiver: nginx from Debian's packages answering every POST with e-cology's success
body, keep-alive on, on 127.0.0.1:<free port>. Its access log (`$msec`, path, Idempotency-Key)
is the receiver's own clock: when each answer left, and how many arrived per path."""
import shutil
import subprocess
import time
from pathlib import Path

from .services import _pdeathsig, free_port, wait_port

BODY = '{"syscode":"BENCH","operResult":"1","message":""}'
INSTALL_HINT = ("nginx is not installed: apt-get install -y nginx-light "
                "(or nginx) — the benchmark's receiver")

CONF = """\
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    log_format bench '$msec $uri $http_idempotency_key $status';
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        access_log {dir}/access.log bench buffer=256k flush=100ms;
        client_body_buffer_size 64k;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""


def nginx_path():
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None)


class Receiver:
    def __init__(self, workdir):
        self.dir = Path(workdir) / "nginx"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process = None
        self.log_path = self.dir / "access.log"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        binary = nginx_path()
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        (self.dir / "nginx.conf").write_text(
            CONF.format(dir=self.dir, port=self.port, body=BODY))
        self.process = subprocess.Popen(
            [binary, "-p", str(self.dir), "-c", "nginx.conf", "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "stderr.log", "wb"), start_new_session=True,
            preexec_fn=_pdeathsig())
        wait_port(self.port, self.process, "nginx", self.dir / "stderr.log")
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def mark(self):
        """Where the log ends now; `since(mark)` reads what arrived after it."""
        time.sleep(0.3)  # the log is flushed every 100 ms
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def since(self, mark, prefix=None):
        """[(msec as float seconds, path, idempotency key)] logged after `mark`."""
        time.sleep(0.3)
        rows = []
        with open(self.log_path, "rb") as log:
            log.seek(mark)
            for line in log:
                parts = line.decode("utf-8", "replace").split()
                if len(parts) < 4 or (prefix and not parts[1].startswith(prefix)):
                    continue
                rows.append((float(parts[0]), parts[1], parts[2]))
        return rows

    def count(self, mark, prefix):
        return len(self.since(mark, prefix))
