"""Report mail over SMTP: the file attached, a short summary in the body.

Settings: `smtp_host`, `smtp_port`, `smtp_user`, `smtp_password`, `smtp_sender`. Port 465 speaks
TLS from the start (SMTPS); elsewhere STARTTLS is used whenever the server offers it, and
AUTH LOGIN/PLAIN when a user is set. The local stack's SMTP sink accepts everything and stores
each message under `<home>/mail/`.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol
from zoneinfo import ZoneInfo

from lms_analytics.settings import Settings
from report_service.engine.query import ColumnRole
from report_service.engine.runner import ReportData
from report_service.errors import ReportServiceError
from report_service.renderers.base import ReportMeta
from report_service.renderers.formatting import filters_text, human_value, period_text

log = logging.getLogger(__name__)

SUMMARY_ROWS = 5
SMTPS_PORT = 465


class DeliveryError(ReportServiceError):
    """The mail server refused or could not be reached."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    media_type: str


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        user: str = "",
        password: str = "",
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self.user, self.password = user, password
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
        )

    def send(self, message: EmailMessage) -> None:
        where = f"{self.host}:{self.port}"
        context = ssl.create_default_context()
        try:
            if self.port == SMTPS_PORT:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if self.port != SMTPS_PORT and smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError(
                f"the mail server {where} refused every recipient: "
                + ", ".join(sorted(error.recipients))
            ) from None
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(
                f"the mail server {where} refused the login of {self.user!r} ({error.smtp_code}); "
                "check LMS_ANALYTICS_SMTP_USER and LMS_ANALYTICS_SMTP_PASSWORD"
            ) from None
        except smtplib.SMTPResponseException as error:
            text = error.smtp_error.decode(errors="replace")
            raise DeliveryError(
                f"the mail server {where} answered {error.smtp_code}: {text}"
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(
                f"cannot deliver mail through {where}: {error}; check LMS_ANALYTICS_SMTP_HOST "
                "and LMS_ANALYTICS_SMTP_PORT (the local stack's SMTP sink: `stack up`)"
            ) from None
        if refused:
            raise DeliveryError(
                f"the mail server {where} refused: {', '.join(sorted(refused))} "
                "(the other recipients got the mail)"
            )
        log.info("mailed %s to %d recipients", message["Subject"], len(message.get_all("To", [])))


def summary_text(data: ReportData, meta: ReportMeta, result_url: str | None) -> str:
    """The mail body: what the report is, its period, its size, its first rows."""
    zone = ZoneInfo(meta.timezone)
    generated = meta.generated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    lines = [meta.name]
    if meta.description:
        lines.append(meta.description)
    lines += [
        "",
        f"Period:    {period_text(meta.period, zone)}",
        f"Filters:   {filters_text(meta.filters)}",
        f"Rows:      {len(data.rows):,}" + (" (row limit reached)" if data.limit_reached else ""),
        f"Generated: {generated} ({zone.key})",
    ]
    if data.rows:
        keys = [i for i, c in enumerate(data.columns) if c.role is not ColumnRole.METRIC]
        metrics = [i for i, c in enumerate(data.columns) if c.role is ColumnRole.METRIC]
        shown = min(SUMMARY_ROWS, len(data.rows))
        lines += ["", f"First {shown} of {len(data.rows):,} rows:"]
        for row in data.rows[:shown]:
            name = " / ".join(human_value(data.columns[i], row[i], zone) for i in keys)
            values = ", ".join(
                f"{data.columns[i].label} {human_value(data.columns[i], row[i], zone)}"
                for i in metrics
            )
            lines.append(f"  - {name}: {values}")
    else:
        lines += ["", "No rows matched this period and these filters."]
    lines += ["", "The full report is attached."]
    if result_url:
        lines.append(f"It can also be downloaded (sign-in required): {result_url}")
    lines += ["", "-- ", "LMS Analytics reports"]
    return "\n".join(lines) + "\n"


def report_email(
    *,
    sender: str,
    recipients: Sequence[str],
    meta: ReportMeta,
    data: ReportData,
    attachment: Attachment,
    result_url: str | None,
) -> EmailMessage:
    zone = ZoneInfo(meta.timezone)
    message = EmailMessage()
    message["Subject"] = f"{meta.name}: {period_text(meta.period, zone)}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(meta.generated_at.timestamp(), localtime=False)
    domain = sender.rpartition("@")[2] or None
    message["Message-ID"] = make_msgid("report", domain=domain)
    if meta.execution_id:
        message["X-LMS-Report-Execution"] = meta.execution_id
    message.set_content(summary_text(data, meta, result_url))
    maintype, _, subtype = attachment.media_type.partition(";")[0].strip().partition("/")
    message.add_attachment(
        attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
    )
    return message
