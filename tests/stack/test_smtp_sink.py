"""The SMTP sink of the local stack: a real process that stores mail under <home>/mail,
keeps it across `stack down`/`stack up`, and stays out of the way when mail goes elsewhere."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from lms_analytics.settings import Settings
from lms_analytics.smtp_sink import read_mailbox
from lms_analytics.stack.manager import StackManager, State, UpAction, default_services
from lms_analytics.stack.process import RecordStore, StopOutcome
from lms_analytics.stack.smtp import SmtpSink, is_loopback


@pytest.fixture
def sink(settings_factory) -> Iterator[tuple[Settings, StackManager]]:
    """A stack of only the SMTP sink, in a home of its own."""
    settings = settings_factory()
    manager = StackManager(settings, services=[SmtpSink(settings)])
    try:
        yield settings, manager
    finally:
        manager.down()


def send(settings: Settings, subject: str, to: list[str], bcc: tuple[str, ...] = ()) -> None:
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(f"body of {subject}")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as client:
        client.send_message(message, to_addrs=[*to, *bcc])


def subjects(settings: Settings) -> list[str]:
    return [message["Subject"] for message in read_mailbox(settings.home / "mail")]


def test_sink_is_part_of_the_default_stack(local_stack: Settings) -> None:
    names = [service.name for service in default_services(local_stack)]
    statuses = {status.service: status for status in StackManager(local_stack).status()}

    assert "smtp" in names
    assert statuses["smtp"].state is State.RUNNING and statuses["smtp"].healthy
    assert statuses["smtp"].endpoint == f"smtp://127.0.0.1:{local_stack.smtp_port}"


def test_sink_stores_mail_under_home_and_keeps_it_across_down_and_up(
    sink: tuple[Settings, StackManager],
) -> None:
    settings, manager = sink
    [started] = manager.up()
    assert started.action is UpAction.STARTED
    send(settings, "before restart", ["dean@example.edu"])

    [stopped] = manager.down()
    assert stopped.outcome is StopOutcome.STOPPED
    assert manager.status()[0].state is State.STOPPED
    [restarted] = manager.up()
    send(settings, "after restart", ["dean@example.edu"])

    assert restarted.action is UpAction.STARTED and restarted.pid != started.pid
    assert subjects(settings) == ["before restart", "after restart"]
    files = sorted((settings.home / "mail").glob("*.eml"))
    assert len(files) == 2 and all(path.stat().st_size > 0 for path in files)
    assert not list((settings.home / "mail").glob(".partial-*"))


def test_sink_records_every_envelope_recipient_including_bcc(
    sink: tuple[Settings, StackManager],
) -> None:
    settings, manager = sink
    manager.up()
    subject = f"bcc {uuid.uuid4()}"

    send(settings, subject, ["a@example.edu"], bcc=("hidden@example.edu",))

    [message] = read_mailbox(settings.home / "mail")
    assert message["Subject"] == subject
    assert message["To"] == "a@example.edu"
    assert message["X-Envelope-To"] == "<a@example.edu>, <hidden@example.edu>"
    assert message["X-Envelope-From"] == f"<{settings.smtp_sender}>"
    assert message.get_content() == f"body of {subject}\n"


def test_a_non_loopback_mail_server_is_external_and_starts_nothing(settings_factory) -> None:
    settings = settings_factory(smtp_host="mail.example.invalid")
    manager = StackManager(settings, services=[SmtpSink(settings)])

    [result] = manager.up()

    assert result.action is UpAction.EXTERNAL and result.pid is None
    assert manager.status()[0].state is State.EXTERNAL
    assert RecordStore(settings.run_dir).services() == []
    assert not (settings.home / "mail").exists()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("10.0.0.5", False),
        ("smtp.example.org", False),
    ],
)
def test_loopback_hosts_are_recognised(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
