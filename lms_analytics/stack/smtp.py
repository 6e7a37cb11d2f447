"""The SMTP sink of the local stack: report mail lands in `<home>/mail/` as .eml files.

It runs as `python -m lms_analytics.smtp_sink` on `settings.bind_host:settings.smtp_port`.
External when `smtp_host` is not a loopback address (127.0.0.0/8, ::1, localhost): the stack
then leaves mail to that server and starts no sink. Health: an SMTP EHLO and NOOP answered 250.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import smtplib
import sys
from pathlib import Path

from lms_analytics.errors import StackError
from lms_analytics.settings import Settings
from lms_analytics.stack.service import Launch, Service


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mail_dir(settings: Settings) -> Path:
    """Where the sink stores messages."""
    return settings.home / "mail"


class SmtpSink(Service):
    name = "smtp"
    port_variable = "LMS_ANALYTICS_SMTP_PORT"
    url_variable = "LMS_ANALYTICS_SMTP_HOST"
    note = "SMTP sink: mail is stored as .eml files under <home>/mail, never relayed"

    @property
    def is_external(self) -> bool:
        return not is_loopback(self.settings.smtp_host)

    @property
    def port(self) -> int:
        return self.settings.smtp_port

    @property
    def endpoint(self) -> str:
        return f"smtp://{self.settings.smtp_host}:{self.settings.smtp_port}"

    @property
    def mail_dir(self) -> Path:
        return mail_dir(self.settings)

    def check_can_start(self) -> None:
        if importlib.util.find_spec("aiosmtpd") is None:
            raise StackError(
                self.name,
                "the SMTP sink cannot run: Python module `aiosmtpd` is missing",
                "Reinstall the dependencies with `make install`, or send mail through a real "
                f"server by setting {self.url_variable}.",
            )

    def prepare(self) -> None:
        self.mail_dir.mkdir(parents=True, exist_ok=True)

    def launch(self) -> Launch:
        command = [
            sys.executable,
            "-m",
            "lms_analytics.smtp_sink",
            "--mail-dir",
            str(self.mail_dir),
            "--host",
            self.settings.bind_host,
            "--port",
            str(self.port),
        ]
        return Launch(command, self.default_cwd(), self.environment())

    def is_healthy(self, timeout: float) -> bool:
        try:
            with smtplib.SMTP(self.settings.smtp_host, self.port, timeout=timeout) as client:
                code, _ = client.ehlo()
                return code == 250 and client.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False
