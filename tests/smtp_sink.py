"""A real SMTP server on 127.0.0.1 for the email tests: a threaded socketserver speaking
enough of RFC 5321 for smtplib (EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA with
dot-unstuffing, RSET, NOOP, QUIT). It keeps what it receives and can be told to refuse: a
scripted reply code for the next MAIL FROM (e.g. 451, a transient failure), recipients to
refuse, or credentials to require."""
import base64
import email
import email.policy
import socketserver
import threading
from dataclasses import dataclass


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list
    data: bytes
    login: str = ""

    @property
    def message(self):
        return email.message_from_bytes(self.data, policy=email.policy.default)

    @property
    def subject(self):
        return str(self.message["Subject"])

    @property
    def body(self):
        """The text part as it was written: CRLF back to LF, without the final line break
        MIME adds."""
        text = self.message.get_body(("plain",)).get_content()
        return text.replace("\r\n", "\n").removesuffix("\n")


def _address(arg):
    """"FROM:<a@b> SIZE=10" → "a@b"."""
    value = arg.split(":", 1)[1].strip() if ":" in arg else arg
    return value.split()[0].strip("<>") if value else ""


class SmtpSink:
    def __init__(self, credentials=None):
        self.mails: list[Mail] = []
        self.credentials = credentials          # (user, password) to require AUTH, or None
        self.refuse_recipients: set[str] = set()
        self.mail_replies: list[str] = []       # replies to the next MAIL FROMs, e.g. "451 busy"
        self.sessions = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 10

            def reply(self, line):
                self.wfile.write(line.encode() + b"\r\n")

            def readline(self):
                return self.rfile.readline(65536).decode("utf-8", "replace").rstrip("\r\n")

            def handle(self):
                with sink._lock:
                    sink.sessions += 1
                self.reply("220 sink.test ESMTP ready")
                mail_from, rcpts, login = None, [], ""
                while True:
                    line = self.readline()
                    verb, _sep, arg = line.partition(" ")
                    verb = verb.upper()
                    if verb == "EHLO":
                        features = ["250-sink.test", "250-8BITMIME", "250-SIZE 10485760"]
                        if sink.credentials:
                            features.append("250-AUTH PLAIN LOGIN")
                        features.append("250 HELP")
                        for feature in features:
                            self.reply(feature)
                    elif verb == "HELO":
                        self.reply("250 sink.test")
                    elif verb == "AUTH":
                        login = self.auth(arg)
                        if login is None:
                            self.reply("535 5.7.8 Authentication credentials invalid")
                        else:
                            self.reply("235 2.7.0 Authentication successful")
                    elif verb == "MAIL":
                        if sink.credentials and not login:
                            self.reply("530 5.7.0 Authentication required")
                            continue
                        with sink._lock:
                            scripted = sink.mail_replies.pop(0) if sink.mail_replies else None
                        if scripted:
                            self.reply(scripted)
                            continue
                        mail_from, rcpts = _address(arg), []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        if mail_from is None:
                            self.reply("503 need MAIL first")
                            continue
                        address = _address(arg)
                        if address in sink.refuse_recipients:
                            self.reply("550 5.1.1 no such user")
                        else:
                            rcpts.append(address)
                            self.reply("250 OK")
                    elif verb == "DATA":
                        if not rcpts:
                            self.reply("503 need RCPT first")
                            continue
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        data = self.read_data()
                        with sink._lock:
                            sink.mails.append(Mail(mail_from, rcpts, data, login))
                        mail_from, rcpts = None, []
                        self.reply("250 OK queued")
                    elif verb == "RSET":
                        mail_from, rcpts = None, []
                        self.reply("250 OK")
                    elif verb == "NOOP":
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    elif not line:
                        return  # the client went away
                    else:
                        self.reply("502 command not implemented")

            def read_data(self):
                lines = []
                while True:
                    raw = self.rfile.readline(1 << 20)
                    if not raw or raw in (b".\r\n", b".\n"):
                        break
                    if raw.startswith(b".."):
                        raw = raw[1:]  # dot-stuffing
                    lines.append(raw)
                return b"".join(lines)

            def auth(self, arg):
                mechanism, _sep, initial = arg.partition(" ")
                if mechanism.upper() == "PLAIN":
                    if not initial:
                        self.reply("334 ")
                        initial = self.readline()
                    parts = base64.b64decode(initial).split(b"\0")
                    user, password = parts[-2].decode(), parts[-1].decode()
                elif mechanism.upper() == "LOGIN":
                    if initial:
                        user = base64.b64decode(initial).decode()
                    else:
                        self.reply("334 " + base64.b64encode(b"Username:").decode())
                        user = base64.b64decode(self.readline()).decode()
                    self.reply("334 " + base64.b64encode(b"Password:").decode())
                    password = base64.b64decode(self.readline()).decode()
                else:
                    return None
                return user if (user, password) == tuple(sink.credentials or ()) else None

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.host, self.port = self.server.server_address
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
