"""One hand-written message per event type, in the producers' Go spelling, and the typed row
each must become in its raw table (column -> value), written out by hand from events.md."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

T0 = "2026-11-20T09:30:15.250Z"
T0_ROW = datetime(2026, 11, 20, 9, 30, 15, 250000, tzinfo=UTC)
T1 = "2026-11-20T11:00:00+01:00"  # an offset: stored as 10:00 UTC
T1_ROW = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)

CLIENT = {
    "DeviceType": "mobile",
    "Browser": "Mobile Safari",
    "OperatingSystem": "iOS",
    "UserAgent": "Mozilla/5.0 (iPhone)",
    "IPAddress": "203.0.113.7",
}
CLIENT_ROW = {
    "client_device_type": "mobile",
    "client_browser": "Mobile Safari",
    "client_operating_system": "iOS",
    "client_user_agent": "Mozilla/5.0 (iPhone)",
    "client_ip_address": "203.0.113.7",
}

# topic -> (message in Go spelling, expected typed columns)
SAMPLES: dict[str, tuple[dict, dict]] = {
    "auth.user-created": (
        {
            "ID": "u-1",
            "Email": "ada@example.org",
            "FirstName": "Ada",
            "LastName": "Lovelace",
            "CreatedAt": T0,
            "OrganizationID": "org-1",
        },
        {
            "id": "u-1",
            "email": "ada@example.org",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "created_at": T0_ROW,
            "organization_id": "org-1",
        },
    ),
    "auth.user-logged-in": (
        {
            "ID": "u-1",
            "Email": "ada@example.org",
            "IP": "198.51.100.4",
            "UserAgent": "Mozilla/5.0 (X11; Linux x86_64)",
            "LoginAt": T1,
        },
        {
            "id": "u-1",
            "email": "ada@example.org",
            "ip": "198.51.100.4",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "login_at": T1_ROW,
        },
    ),
    "course.user-enrolled": (
        {"ID": "enr-1", "CourseID": "c-1", "UserID": "u-1", "EnrolledAt": T0},
        {"id": "enr-1", "course_id": "c-1", "user_id": "u-1", "enrolled_at": T0_ROW},
    ),
    "progress.course-completed": (
        {"UserID": "u-1", "CourseID": "c-1", "CompletedAt": T1},
        {"user_id": "u-1", "course_id": "c-1", "completed_at": T1_ROW},
    ),
    "progress.progress-updated": (
        {
            "UserID": "u-1",
            "CourseID": "c-1",
            "ModuleID": "m-1",
            "LessonID": "l-1",
            "PercentComplete": 62.5,
            "UpdatedAt": T0,
        },
        {
            "user_id": "u-1",
            "course_id": "c-1",
            "module_id": "m-1",
            "lesson_id": "l-1",
            "percent_complete": 62.5,
            "updated_at": T0_ROW,
        },
    ),
    "progress.quiz-completed": (
        {
            "UserID": "u-1",
            "CourseID": "c-1",
            "QuizID": "q-1",
            "Score": 87.5,
            "Passed": True,
            "CompletedAt": T1,
            "AttemptID": "att-1",
            "StartedAt": T0,
        },
        {
            "user_id": "u-1",
            "course_id": "c-1",
            "quiz_id": "q-1",
            "score": 87.5,
            "passed": True,
            "completed_at": T1_ROW,
            "attempt_id": "att-1",
            "started_at": T0_ROW,
        },
    ),
    "progress.assignment-submitted": (
        {"UserID": "u-1", "CourseID": "c-1", "AssignmentID": "as-1", "SubmittedAt": T0},
        {"user_id": "u-1", "course_id": "c-1", "assignment_id": "as-1", "submitted_at": T0_ROW},
    ),
    "billing.payment-completed": (
        {
            "ID": "pay-1",
            "UserID": "u-1",
            "CourseID": "c-1",
            "Amount": 49.99,
            "Currency": "EUR",
            "CompletedAt": T0,
        },
        {
            "id": "pay-1",
            "user_id": "u-1",
            "course_id": "c-1",
            "amount": Decimal("49.99"),
            "currency": "EUR",
            "completed_at": T0_ROW,
        },
    ),
    "course.content-published": (
        {
            "CourseID": "c-1",
            "ModuleID": "m-1",
            "LessonID": "l-1",
            "ItemType": "assignment",
            "ItemID": "as-1",
            "ParentID": "l-1",
            "Position": 3,
            "Title": "Essay",
            "DueAt": T1,
            "PublishedAt": T0,
        },
        {
            "course_id": "c-1",
            "module_id": "m-1",
            "lesson_id": "l-1",
            "item_type": "assignment",
            "item_id": "as-1",
            "parent_id": "l-1",
            "position": 3,
            "title": "Essay",
            "due_at": T1_ROW,
            "published_at": T0_ROW,
        },
    ),
    "course.user-unenrolled": (
        {"ID": "enr-1", "CourseID": "c-1", "UserID": "u-1", "UnenrolledAt": T1},
        {"id": "enr-1", "course_id": "c-1", "user_id": "u-1", "unenrolled_at": T1_ROW},
    ),
    "progress.question-answered": (
        {
            "UserID": "u-1",
            "CourseID": "c-1",
            "QuizID": "q-1",
            "QuestionID": "qq-4",
            "AttemptID": "att-1",
            "Outcome": "incorrect",
            "TimeSpent": 42,
            "AnsweredAt": T0,
        },
        {
            "user_id": "u-1",
            "course_id": "c-1",
            "quiz_id": "q-1",
            "question_id": "qq-4",
            "attempt_id": "att-1",
            "outcome": "incorrect",
            "time_spent": 42,
            "answered_at": T0_ROW,
        },
    ),
    "progress.assignment-graded": (
        {"UserID": "u-1", "CourseID": "c-1", "AssignmentID": "as-1", "Score": 71.0, "GradedAt": T1},
        {
            "user_id": "u-1",
            "course_id": "c-1",
            "assignment_id": "as-1",
            "score": 71.0,
            "graded_at": T1_ROW,
        },
    ),
    "course.course-reviewed": (
        {"ID": "rev-1", "UserID": "u-1", "CourseID": "c-1", "Rating": 4, "ReviewedAt": T0},
        {"id": "rev-1", "user_id": "u-1", "course_id": "c-1", "rating": 4, "reviewed_at": T0_ROW},
    ),
    "progress.video-watched": (
        {
            "UserID": "u-1",
            "CourseID": "c-1",
            "LessonID": "l-1",
            "VideoID": "v-1",
            "WatchedSeconds": 300,
            "PlaybackRate": 1.5,
            "Completed": True,
            "WatchedAt": T0,
        },
        {
            "user_id": "u-1",
            "course_id": "c-1",
            "lesson_id": "l-1",
            "video_id": "v-1",
            "watched_seconds": 300,
            "playback_rate": 1.5,
            "completed": True,
            "watched_at": T0_ROW,
        },
    ),
    "tracking.page-views": (
        {
            "ID": "pv-1",
            "UserID": "u-1",
            "SessionID": "s-1",
            "URL": "https://lms.example.org/courses/c-1?utm_source=news&utm_medium=email",
            "Path": "/courses/c-1",
            "Title": "Course",
            "Referrer": "https://news.example.com/",
            "TimeOnPage": 35,
            "EntryPage": True,
            "ExitPage": False,
            "ClientMetadata": CLIENT,
            "CreatedAt": T0,
        },
        {
            "id": "pv-1",
            "user_id": "u-1",
            "session_id": "s-1",
            "url": "https://lms.example.org/courses/c-1?utm_source=news&utm_medium=email",
            "path": "/courses/c-1",
            "title": "Course",
            "referrer": "https://news.example.com/",
            "time_on_page": 35,
            "entry_page": True,
            "exit_page": False,
            **CLIENT_ROW,
            "created_at": T0_ROW,
        },
    ),
    "tracking.user-activities": (
        {
            "ID": "act-1",
            "UserID": "u-1",
            "ActivityType": "forum_post",
            "ResourceType": "forum",
            "ResourceID": "f-1",
            "Action": "post",
            "Duration": 95,
            "ClientMetadata": CLIENT,
            "CreatedAt": T1,
        },
        {
            "id": "act-1",
            "user_id": "u-1",
            "activity_type": "forum_post",
            "resource_type": "forum",
            "resource_id": "f-1",
            "action": "post",
            "duration": 95,
            **CLIENT_ROW,
            "created_at": T1_ROW,
        },
    ),
}


def snake(name: str) -> str:
    """`UserID` -> `user_id`, `IPAddress` -> `ip_address`, `URL` -> `url`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def snake_spelled(message: dict) -> dict:
    return {
        snake(key): snake_spelled(value) if isinstance(value, dict) else value
        for key, value in message.items()
    }
