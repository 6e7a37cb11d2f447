"""Fast encoders: each returns exactly the bytes `Event.to_message()` writes for that event.

Building a pydantic model per event costs more than the rest of the simulation together, so the
simulator writes the JSON itself. `tests/ingestion/test_simulator.py` proves, message by
message, that decoding a value and calling `to_message()` on the result gives the same bytes.

Arguments named `*_id`, enum values and URLs are inserted verbatim (the simulator only makes
JSON-safe ones); free text goes through `quote` (or arrives already quoted as `*_json`).
Times are integer milliseconds since the Unix epoch, in UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

quote = json.encoder.encode_basestring  # type: ignore[attr-defined]  # the C encoder

_DAYS: dict[int, str] = {}  # day number -> "2026-11-24T"
_CLOCK = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
_MILLIS = ["Z"] + [f".{ms:03d}000Z" for ms in range(1, 1000)]


def timestamp(ms: int) -> str:
    """Epoch milliseconds as pydantic writes a UTC datetime: `2026-11-24T10:15:00.250000Z`."""
    seconds, millis = divmod(ms, 1000)
    day, second_of_day = divmod(seconds, 86_400)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
    return date + _CLOCK[second_of_day] + _MILLIS[millis]


def _opt(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


def _opt_time(ms: int | None) -> str:
    return "null" if ms is None else f'"{timestamp(ms)}"'


def _bool(value: bool) -> str:
    return "true" if value else "false"


def client_metadata(
    device_type: str, browser: str, operating_system: str, user_agent: str, ip_address: str
) -> str:
    return (
        f'{{"DeviceType":"{device_type}","Browser":{quote(browser)},'
        f'"OperatingSystem":{quote(operating_system)},"UserAgent":{quote(user_agent)},'
        f'"IPAddress":"{ip_address}"}}'
    )


def user_created(
    id: str,
    email_json: str,
    first_name_json: str,
    last_name_json: str,
    created_at: int,
    organization_id: str | None,
) -> bytes:
    return (
        f'{{"ID":"{id}","Email":{email_json},"FirstName":{first_name_json},'
        f'"LastName":{last_name_json},"CreatedAt":"{timestamp(created_at)}",'
        f'"OrganizationID":{_opt(organization_id)}}}'
    ).encode()


def user_logged_in(id: str, email_json: str, ip: str, user_agent_json: str, login_at: int) -> bytes:
    return (
        f'{{"ID":"{id}","Email":{email_json},"IP":"{ip}","UserAgent":{user_agent_json},'
        f'"LoginAt":"{timestamp(login_at)}"}}'
    ).encode()


def user_enrolled(id: str, course_id: str, user_id: str, enrolled_at: int) -> bytes:
    return (
        f'{{"ID":"{id}","CourseID":"{course_id}","UserID":"{user_id}",'
        f'"EnrolledAt":"{timestamp(enrolled_at)}"}}'
    ).encode()


def user_unenrolled(id: str, course_id: str, user_id: str, unenrolled_at: int) -> bytes:
    return (
        f'{{"ID":"{id}","CourseID":"{course_id}","UserID":"{user_id}",'
        f'"UnenrolledAt":"{timestamp(unenrolled_at)}"}}'
    ).encode()


def course_completed(user_id: str, course_id: str, completed_at: int) -> bytes:
    return (
        f'{{"UserID":"{user_id}","CourseID":"{course_id}",'
        f'"CompletedAt":"{timestamp(completed_at)}"}}'
    ).encode()


def progress_updated(
    user_id: str, course_id: str, module_id: str, lesson_id: str, percent: float, updated_at: int
) -> bytes:
    return (
        f'{{"UserID":"{user_id}","CourseID":"{course_id}","ModuleID":"{module_id}",'
        f'"LessonID":"{lesson_id}","PercentComplete":{percent!r},'
        f'"UpdatedAt":"{timestamp(updated_at)}"}}'
    ).encode()


def quiz_completed(
    user_id: str,
    course_id: str,
    quiz_id: str,
    score: float,
    passed: bool,
    completed_at: int,
    attempt_id: str | None,
    started_at: int | None,
) -> bytes:
    return (
        f'{{"UserID":"{user_id}","CourseID":"{course_id}","QuizID":"{quiz_id}",'
        f'"Score":{score!r},"Passed":{_bool(passed)},"CompletedAt":"{timestamp(completed_at)}",'
        f'"AttemptID":{_opt(attempt_id)},"StartedAt":{_opt_time(started_at)}}}'
    ).encode()


def question_answered(
    user_id: str,
    course_id: str,
    quiz_id: str,
    question_id: str,
    attempt_id: str,
    outcome: str,
    time_spent: int,
    answered_at: int,
) -> bytes:
    return (
        f'{{"UserID":"{user_id}","CourseID":"{course_id}","QuizID":"{quiz_id}",'
        f'"QuestionID":"{question_id}","AttemptID":"{attempt_id}","Outcome":"{outcome}",'
        f'"TimeSpent":{time_spent},"AnsweredAt":"{timestamp(answered_at)}"}}'
    ).encode()


def assignment_submitted(
    user_id: str, course_id: str, assignment_id: str, submitted_at: int
) -> bytes:
    return (
        f'{{"UserID":"{user_id}","CourseID":"{course_id}","AssignmentID":"{assignment_id}",'
        f'"SubmittedAt":"{timestamp(submitted_at)}"}}'
    ).encode()


def assignment_graded(
    user_id: str, course_id: str, assignment_id: str, score: float, graded_at: int
) -> bytes:
    return (
        f'{{"UserID":"{user_id}","CourseID":"{course_id}","AssignmentID":"{assignment_id}",'
        f'"Score":{score!r},"GradedAt":"{timestamp(graded_at)}"}}'
    ).encode()


def payment_completed(
    id: str, user_id: str, course_id: str, amount: float, currency: str, completed_at: int
) -> bytes:
    return (
        f'{{"ID":"{id}","UserID":"{user_id}","CourseID":"{course_id}","Amount":{amount!r},'
        f'"Currency":"{currency}","CompletedAt":"{timestamp(completed_at)}"}}'
    ).encode()


def content_published(
    course_id: str,
    module_id: str | None,
    lesson_id: str | None,
    item_type: str,
    item_id: str,
    parent_id: str | None,
    position: int,
    title_json: str,
    due_at: int | None,
    published_at: int,
) -> bytes:
    return (
        f'{{"CourseID":"{course_id}","ModuleID":{_opt(module_id)},'
        f'"LessonID":{_opt(lesson_id)},"ItemType":"{item_type}","ItemID":"{item_id}",'
        f'"ParentID":{_opt(parent_id)},"Position":{position},"Title":{title_json},'
        f'"DueAt":{_opt_time(due_at)},"PublishedAt":"{timestamp(published_at)}"}}'
    ).encode()


def course_reviewed(id: str, user_id: str, course_id: str, rating: int, reviewed_at: int) -> bytes:
    return (
        f'{{"ID":"{id}","UserID":"{user_id}","CourseID":"{course_id}","Rating":{rating},'
        f'"ReviewedAt":"{timestamp(reviewed_at)}"}}'
    ).encode()


def video_watched(
    user_id: str,
    course_id: str,
    lesson_id: str,
    video_id: str,
    watched_seconds: int,
    playback_rate: float,
    completed: bool,
    watched_at: int,
) -> bytes:
    return (
        f'{{"UserID":"{user_id}","CourseID":"{course_id}","LessonID":"{lesson_id}",'
        f'"VideoID":"{video_id}","WatchedSeconds":{watched_seconds},'
        f'"PlaybackRate":{playback_rate!r},"Completed":{_bool(completed)},'
        f'"WatchedAt":"{timestamp(watched_at)}"}}'
    ).encode()


def page_view(
    id: str,
    user_id: str,
    session_id: str,
    url: str,
    path: str,
    title_json: str,
    referrer: str,
    time_on_page: int,
    entry_page: bool,
    exit_page: bool,
    client_metadata_json: str,
    created_at: int,
) -> bytes:
    return (
        f'{{"ID":"{id}","UserID":"{user_id}","SessionID":"{session_id}","URL":"{url}",'
        f'"Path":"{path}","Title":{title_json},"Referrer":"{referrer}",'
        f'"TimeOnPage":{time_on_page},"EntryPage":{_bool(entry_page)},'
        f'"ExitPage":{_bool(exit_page)},"ClientMetadata":{client_metadata_json},'
        f'"CreatedAt":"{timestamp(created_at)}"}}'
    ).encode()


def user_activity(
    id: str,
    user_id: str,
    activity_type: str,
    resource_type: str,
    resource_id: str,
    action: str,
    duration: int,
    client_metadata_json: str,
    created_at: int,
) -> bytes:
    return (
        f'{{"ID":"{id}","UserID":"{user_id}","ActivityType":"{activity_type}",'
        f'"ResourceType":"{resource_type}","ResourceID":"{resource_id}","Action":"{action}",'
        f'"Duration":{duration},"ClientMetadata":{client_metadata_json},'
        f'"CreatedAt":"{timestamp(created_at)}"}}'
    ).encode()
