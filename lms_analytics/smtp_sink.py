"""The local SMTP sink: accepts every message and stores it as a `.eml` file; relays nothing.

Run by the local stack as `python -m lms_analytics.smtp_sink --mail-dir <home>/mail ...` (or
`lms-analytics smtp-sink` once registered). Built on aiosmtpd (the maintained successor of the
stdlib's smtpd). Each message lands in `<mail dir>/<UTC time>-<id>.eml`, written atomically,
exactly as received plus two headers on top naming the SMTP envelope (`X-Envelope-From`,
`X-Envelope-To`: Bcc recipients appear only there). Any AUTH is accepted, without TLS, so a
client configured with credentials works against it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import logging
import os
import signal
import tempfile
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, Any

import typer

log = logging.getLogger("lms_analytics.smtp_sink")  # also when run as __main__

IDENT = "lms-analytics SMTP sink"
DATA_SIZE_LIMIT = 64 * 1024 * 1024


class MailDirHandler:
    """aiosmtpd handler: one .eml file per accepted message."""

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir

    def store(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> Path:
        envelope = (
            f"X-Envelope-From: <{mail_from}>\r\nX-Envelope-To: "
            + ", ".join(f"<{rcpt}>" for rcpt in rcpt_tos)
            + "\r\n"
        ).encode("utf-8")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.mail_dir / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.mail_dir, prefix=".partial-", delete=False) as f:
            f.write(envelope + content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(f.name, path)
        return path

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        try:
            path = self.store(envelope.mail_from, list(envelope.rcpt_tos), content)
        except OSError as error:
            log.error("cannot store a message in %s: %s", self.mail_dir, error)
            return "451 Requested action aborted: cannot store the message"
        log.info(
            "stored mail from %s to %s as %s", envelope.mail_from, envelope.rcpt_tos, path.name
        )
        return "250 Message accepted for delivery"


def _accept_any_login(*_: Any) -> Any:
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=True)


async def serve(mail_dir: Path, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    from aiosmtpd.smtp import SMTP

    handler = MailDirHandler(mail_dir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="lms-analytics.local",
            ident=IDENT,
            data_size_limit=DATA_SIZE_LIMIT,
            enable_SMTPUTF8=True,
            authenticator=_accept_any_login,
            auth_require_tls=False,
        ),
        host=host,
        port=port,
        reuse_address=True,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("SMTP sink on %s:%d storing mail in %s", host, port, mail_dir)
    async with server:
        await stop.wait()
    log.info("SMTP sink stopped")


def smtp_sink(
    mail_dir: Annotated[
        Path | None, typer.Option(help="Folder for the .eml files. Default: <home>/mail.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address. Default: settings.bind_host.")] = None,
    port: Annotated[int | None, typer.Option(help="Port. Default: settings.smtp_port.")] = None,
) -> None:
    """Run the local SMTP sink: every message is stored as a .eml file, none is relayed."""
    from lms_analytics.settings import get_settings

    settings = get_settings()
    folder = (mail_dir or settings.home / "mail").expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: a line per command
    asyncio.run(serve(folder, host or settings.bind_host, port or settings.smtp_port))


def read_mailbox(mail_dir: Path) -> list[EmailMessage]:
    """The messages stored in `mail_dir`, oldest first (tests and the demo read mail here)."""
    messages: list[EmailMessage] = []
    if not mail_dir.is_dir():
        return messages
    for path in sorted(mail_dir.glob("*.eml")):
        with contextlib.suppress(OSError), path.open("rb") as file:
            message = email.message_from_binary_file(file, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            messages.append(message)
    return messages


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    typer.run(smtp_sink)


if __name__ == "__main__":
    main()
