"""Delivering report files to people: email over SMTP."""

from report_service.delivery.email import (
    Attachment,
    DeliveryError,
    Mailer,
    SmtpMailer,
    report_email,
    summary_text,
)

__all__ = ["Attachment", "DeliveryError", "Mailer", "SmtpMailer", "report_email", "summary_text"]
