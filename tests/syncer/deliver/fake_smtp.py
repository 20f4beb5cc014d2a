"""Real SMTP servers (aiosmtpd) on loopback for the tests, with real TLS from a test CA (trustme)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"
USER, PASSWORD = "reports@example.com", "s3cret-Pa55word"


@dataclass
class Inbox:
    """The aiosmtpd handler: keeps what the server accepted."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(), PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # False: the server answers 235/535 itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(ctx)
    return ctx


@contextmanager
def smtp_servers() -> Iterator[Callable[..., tuple[Inbox, int]]]:
    """``start(**controller_options)`` runs one more server; all stop when the block ends."""
    controllers: list[Controller] = []

    def start(**kwargs: Any) -> tuple[Inbox, int]:
        inbox, port = Inbox(), free_port()
        controller = Controller(inbox, hostname=HOST, port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return inbox, port

    try:
        yield start
    finally:
        for c in controllers:
            c.stop()
