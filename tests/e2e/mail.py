"""The end-to-end tests' mail: a loopback SMTP server that requires STARTTLS, trusted the way
production trusts one (SSL_CERT_FILE), and the report's sender and recipients."""

from __future__ import annotations

import asyncio
import email
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller

from tests.syncer.deliver.fake_smtp import HOST, free_port, server_context

SENDER = "NRR <nrr@example.com>"
RECIPIENTS = ("cfo@example.com", "ops@example.com")
SMTP_DELAY = 0.3  # seconds the server holds DATA, so racing senders overlap in the send


@dataclass
class SlowInbox:
    """An aiosmtpd handler that keeps what it accepted, after a pause in DATA."""

    delay: float = 0.0
    messages: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"

    def parsed(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=policy.default) for _, raw in self.messages]

    def recipients(self) -> list[str]:
        return sorted(r for rcpts, _ in self.messages for r in rcpts)


@dataclass
class Smtp:
    inbox: SlowInbox
    port: int
    ca_file: Path  # trusted through SSL_CERT_FILE: production's default context, no test hook


@contextmanager
def starttls_smtp(ca_dir: Path) -> Iterator[Smtp]:
    """A loopback SMTP server that requires STARTTLS with a certificate from a test CA,
    whose certificate is written to ``ca_dir``."""
    ca = trustme.CA()
    server_ctx = server_context(ca, HOST)
    ca_file = ca_dir / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    port = free_port()
    inbox = SlowInbox(delay=SMTP_DELAY)
    controller = Controller(inbox, hostname=HOST, port=port, tls_context=server_ctx, require_starttls=True)
    controller.start()
    try:
        yield Smtp(inbox, port, ca_file)
    finally:
        controller.stop()
