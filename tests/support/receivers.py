"""Real receivers on 127.0.0.1 for the alert tests: an HTTP receiver that checks the HMAC signature (with its
own implementation of the documented recipe, not core.alerts.signing) and an SMTP server with STARTTLS and
login (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Records POSTs. `answers` are consumed first (status, headers) before answering 200."""

    port: int = field(default_factory=free_port)
    signing_key: str | None = None
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hold_s: float = 0.0  # record, then wait this long before answering (the first request only)
    delay_s: float = 0.0  # record, then wait this long before answering (every request)
    received: list[Received] = field(default_factory=list)
    attempts: list[float] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        assert self.signing_key is not None
        timestamp = headers.get("x-partnerwatch-timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        expected = hmac.new(self.signing_key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest("v1=" + expected, headers.get("x-partnerwatch-signature", ""))

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.attempts.append(time.monotonic())
                if receiver.answers:
                    status, extra = receiver.answers.pop(0)
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.end_headers()
                    return
                ok = receiver.verify(headers, body) if receiver.signing_key else None
                receiver.received.append(Received(self.path, headers, body, ok))
                if receiver.hold_s:
                    hold, receiver.hold_s = receiver.hold_s, 0.0
                    time.sleep(hold)
                time.sleep(receiver.delay_s)
                self.send_response(200 if ok is not False else 401)
                self.end_headers()
                self.wfile.write(b"ok" if ok is not False else b"bad signature")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, n: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received


def self_signed(tmp: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return context


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd handler hook
        self.messages.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1 that requires STARTTLS and a login (user `alerts`, password `smtp-pass`)."""

    def __init__(self, tmp: Path) -> None:
        self.inbox = _Inbox()
        self.port = free_port()

        def check(server, session, envelope, mechanism, auth_data) -> AuthResult:
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login == b"alerts"
                and auth_data.password == b"smtp-pass"
            )
            if ok:
                self.inbox.logins.append(auth_data.login.decode())
            return AuthResult(success=ok, handled=False)

        authenticator: Callable = check
        self.controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self_signed(tmp),
            require_starttls=True,
            auth_required=True,
            authenticator=authenticator,
        )

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, n: int, timeout: float = 20.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.inbox.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.inbox.messages
