"""Delivery: report mail through the local stack's SMTP sink (parsed back from its .eml
files), SMTP failures as DeliveryError, and the artifact store that keeps report files."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest
from mart_fixtures import course_data, meta

from lms_analytics.settings import Settings
from lms_analytics.smtp_sink import read_mailbox
from lms_analytics.stack.smtp import mail_dir
from report_service.artifacts import (
    ArtifactError,
    LocalArtifactStore,
    execution_key,
    execution_prefix,
)
from report_service.delivery import Attachment, DeliveryError, SmtpMailer, report_email
from report_service.renderers.pdf import render_pdf


def _mail_with(settings: Settings, header: str, value: str) -> list[EmailMessage]:
    return [m for m in read_mailbox(mail_dir(settings)) if m[header] == value]


def test_report_mail_reaches_the_sink_with_attachment_summary_and_recipients(
    local_stack: Settings,
) -> None:
    execution_id = str(uuid.uuid4())
    info = meta(execution_id=execution_id)
    rendered = render_pdf(course_data(), info)
    recipients = ["dean@example.edu", "ops@example.edu"]
    message = report_email(
        sender=local_stack.smtp_sender,
        recipients=recipients,
        meta=info,
        data=course_data(),
        attachment=Attachment("weekly.pdf", rendered.content, rendered.media_type),
        result_url="http://api.example/v1/reports/r/executions/e/result",
    )

    SmtpMailer.from_settings(local_stack).send(message)

    [received] = _mail_with(local_stack, "X-LMS-Report-Execution", execution_id)
    assert received["Subject"] == "Weekly course completion: 2024-03-01 \u2013 2024-03-07"
    assert received["From"] == local_stack.smtp_sender
    assert [a.addr_spec for a in received["To"].addresses] == recipients
    assert received["X-Envelope-To"] == "<dean@example.edu>, <ops@example.edu>"
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "weekly.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == rendered.content
    body = received.get_body(preferencelist=("plain",)).get_content()
    assert "Period:    2024-03-01 \u2013 2024-03-07" in body
    assert "Rows:      4" in body
    assert "c-1: Total enrollments 4, Average completion rate 75.0%" in body
    assert "http://api.example/v1/reports/r/executions/e/result" in body


def test_sink_accepts_any_login(local_stack: Settings) -> None:
    subject = f"login {uuid.uuid4()}"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", subject
    message.set_content("hello")

    SmtpMailer(
        local_stack.smtp_host, local_stack.smtp_port, user="reports", password="secret"
    ).send(message)

    assert len(_mail_with(local_stack, "Subject", subject)) == 1


def test_unreachable_mail_server_is_a_delivery_error_naming_it(settings_factory) -> None:
    closed = settings_factory()  # its smtp_port is free: nothing listens there
    message = EmailMessage()
    message["From"], message["To"] = "a@example.org", "b@example.org"

    with pytest.raises(DeliveryError, match=f"127.0.0.1:{closed.smtp_port}.*SMTP_HOST"):
        SmtpMailer.from_settings(closed).send(message)


def test_refused_recipient_is_a_delivery_error(
    local_stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: smtplib.SMTP, *args: object, **kwargs: object) -> None:
        raise smtplib.SMTPRecipientsRefused({"nobody@example.org": (550, b"no such user")})

    monkeypatch.setattr(smtplib.SMTP, "send_message", refuse)
    message = EmailMessage()
    message["From"], message["To"] = "a@example.org", "nobody@example.org"

    with pytest.raises(DeliveryError, match=r"refused every recipient: nobody@example\.org"):
        SmtpMailer.from_settings(local_stack).send(message)


# --- artifacts ----------------------------------------------------------------------------------


def test_local_store_keeps_files_under_report_and_execution(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    report_id, execution_id = uuid.uuid4(), uuid.uuid4()
    key = execution_key(report_id, execution_id, "weekly_2024-03-01.csv")

    stored = store.put(key, b"a,b\r\n1,2\r\n")

    assert (tmp_path / "reports" / str(report_id) / str(execution_id) / stored.filename).is_file()
    assert store.find(execution_prefix(report_id, execution_id)) == [stored]
    assert stored.media_type == "text/csv; charset=utf-8" and stored.size == 10
    with store.open(key) as file:
        assert file.read() == b"a,b\r\n1,2\r\n"
    assert store.put(key, b"new").size == 3  # replaced whole
    assert store.delete(execution_prefix(report_id, execution_id)) == 1
    assert store.get(key) is None and store.find(execution_prefix(report_id, execution_id)) == []


@pytest.mark.parametrize(
    "key", ["../outside.csv", "reports/../../etc/passwd", "/abs.csv", "a//b", "reports/.."]
)
def test_keys_cannot_leave_the_store(tmp_path: Path, key: str) -> None:
    with pytest.raises(ArtifactError, match="invalid artifact key"):
        LocalArtifactStore(tmp_path / "store").put(key, b"x")
    assert not (tmp_path / "outside.csv").exists()


def test_unwritable_store_says_which_setting_to_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    with pytest.raises(ArtifactError, match="LMS_ANALYTICS_ARTIFACT_DIR"):
        LocalArtifactStore(blocker).put("reports/x.csv", b"x")
