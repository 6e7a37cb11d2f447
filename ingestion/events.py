"""The event contract of `../shared/spec/events.md` as typed models, one per event type.

Each model names its Kafka topic, its natural key (from which a missing `event_id` header is
derived) and its event-time field. Field names are snake_case; a message may spell each one
either way: as Go's `encoding/json` writes the seed's structs (`UserID`, `CreatedAt`) or in
snake_case (`user_id`, `created_at`). Validation is strict (no "5" for 5) and enforces the
"Bad input" rules: required fields, types, known enum values, ranges, no far-future times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
)

# How far ahead of the ingestion clock an event time may be before it is impossible.
MAX_FUTURE = timedelta(days=1)

_GO_ACRONYMS = {"id": "ID", "url": "URL", "ip": "IP", "utm": "UTM"}


def go_name(snake: str) -> str:
    """`user_id` -> `UserID`, `ip_address` -> `IPAddress`: the seed's Go field names."""
    return "".join(_GO_ACRONYMS.get(part, part.capitalize()) for part in snake.split("_"))


def _utc_not_far_future(value: datetime, info: ValidationInfo) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp has no time zone offset (RFC 3339 requires one)")
    value = value.astimezone(UTC)
    value = value.replace(microsecond=value.microsecond // 1000 * 1000)  # stored as DateTime64(3)
    now = (info.context or {}).get("now") or datetime.now(UTC)
    if value > now + MAX_FUTURE:
        raise ValueError(f"timestamp {value.isoformat()} is more than 1 day in the future")
    return value


Timestamp = Annotated[datetime, AfterValidator(_utc_not_far_future)]
Id = Annotated[str, Field(min_length=1, max_length=256)]
Text = str
Score = Annotated[float, Field(ge=0, le=100)]
Seconds = Annotated[int, Field(ge=0)]

DeviceType = Literal["desktop", "mobile", "tablet", "bot", "other", ""]
ItemType = Literal["module", "lesson", "quiz", "question", "assignment", "video"]
Outcome = Literal["correct", "incorrect", "skipped"]


class ContractModel(BaseModel):
    model_config = ConfigDict(
        strict=True,
        frozen=True,
        extra="ignore",  # unknown fields are kept in the raw row's JSON, never an error
        alias_generator=AliasGenerator(
            validation_alias=lambda name: AliasChoices(go_name(name), name),
            serialization_alias=go_name,
        ),
        populate_by_name=True,
    )


class ClientMetadata(ContractModel):
    device_type: DeviceType = ""
    browser: Text = ""
    operating_system: Text = ""
    user_agent: Text = ""
    ip_address: Text = ""


class Event(ContractModel):
    """One event type: its topic, natural key and event-time field."""

    event_type: ClassVar[str]
    topic: ClassVar[str]
    natural_key: ClassVar[tuple[str, ...]]
    time_field: ClassVar[str]

    @property
    def event_time(self) -> datetime:
        return getattr(self, self.time_field)

    def natural_key_values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.natural_key)

    def to_message(self) -> bytes:
        """The Kafka message value, in the seed's Go spelling."""
        return self.model_dump_json(by_alias=True).encode()


# --- domain events of the seed ---------------------------------------------------------------


class UserCreated(Event):
    event_type = "UserCreated"
    topic = "auth.user-created"
    natural_key = ("id",)
    time_field = "created_at"

    id: Id
    email: Text
    first_name: Text
    last_name: Text
    created_at: Timestamp
    organization_id: Text | None = None


class UserLoggedIn(Event):
    event_type = "UserLoggedIn"
    topic = "auth.user-logged-in"
    natural_key = ("id", "login_at")
    time_field = "login_at"

    id: Id  # the user
    email: Text
    ip: Text
    user_agent: Text
    login_at: Timestamp


class UserEnrolled(Event):
    event_type = "UserEnrolled"
    topic = "course.user-enrolled"
    natural_key = ("id",)
    time_field = "enrolled_at"

    id: Id  # the enrolment
    course_id: Id
    user_id: Id
    enrolled_at: Timestamp


class CourseCompleted(Event):
    event_type = "CourseCompleted"
    topic = "progress.course-completed"
    natural_key = ("user_id", "course_id")
    time_field = "completed_at"

    user_id: Id
    course_id: Id
    completed_at: Timestamp


class ProgressUpdated(Event):
    event_type = "ProgressUpdated"
    topic = "progress.progress-updated"
    natural_key = ("user_id", "lesson_id", "updated_at")
    time_field = "updated_at"

    user_id: Id
    course_id: Id
    module_id: Id
    lesson_id: Id
    percent_complete: Score
    updated_at: Timestamp


class QuizCompleted(Event):
    event_type = "QuizCompleted"
    topic = "progress.quiz-completed"
    natural_key = ("user_id", "quiz_id", "completed_at")
    time_field = "completed_at"

    user_id: Id
    course_id: Id
    quiz_id: Id
    score: Score
    passed: bool
    completed_at: Timestamp
    attempt_id: Text | None = None
    started_at: Timestamp | None = None


class AssignmentSubmitted(Event):
    event_type = "AssignmentSubmitted"
    topic = "progress.assignment-submitted"
    natural_key = ("user_id", "assignment_id", "submitted_at")
    time_field = "submitted_at"

    user_id: Id
    course_id: Id
    assignment_id: Id
    submitted_at: Timestamp


class PaymentCompleted(Event):
    event_type = "PaymentCompleted"
    topic = "billing.payment-completed"
    natural_key = ("id",)
    time_field = "completed_at"

    id: Id
    user_id: Id
    course_id: Id
    # A JSON number on the wire, as Go writes a float64; exact Decimal inside.
    amount: Annotated[
        Decimal,
        Field(ge=0, max_digits=18, decimal_places=4),
        PlainSerializer(float, return_type=float, when_used="json"),
    ]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    completed_at: Timestamp


# --- extension events ---------------------------------------------------------------------


class ContentPublished(Event):
    event_type = "ContentPublished"
    topic = "course.content-published"
    natural_key = ("item_type", "item_id", "published_at")
    time_field = "published_at"

    course_id: Id
    module_id: Text | None = None
    lesson_id: Text | None = None
    item_type: ItemType
    item_id: Id
    parent_id: Text | None = None
    position: Annotated[int, Field(ge=0)]
    title: Text
    due_at: Timestamp | None = None
    published_at: Timestamp


class UserUnenrolled(Event):
    event_type = "UserUnenrolled"
    topic = "course.user-unenrolled"
    natural_key = ("id",)
    time_field = "unenrolled_at"

    id: Id  # the enrolment
    course_id: Id
    user_id: Id
    unenrolled_at: Timestamp


class QuestionAnswered(Event):
    event_type = "QuestionAnswered"
    topic = "progress.question-answered"
    natural_key = ("attempt_id", "question_id")
    time_field = "answered_at"

    user_id: Id
    course_id: Id
    quiz_id: Id
    question_id: Id
    attempt_id: Id
    outcome: Outcome
    time_spent: Seconds
    answered_at: Timestamp


class AssignmentGraded(Event):
    event_type = "AssignmentGraded"
    topic = "progress.assignment-graded"
    natural_key = ("user_id", "assignment_id", "graded_at")
    time_field = "graded_at"

    user_id: Id
    course_id: Id
    assignment_id: Id
    score: Score
    graded_at: Timestamp


class CourseReviewed(Event):
    event_type = "CourseReviewed"
    topic = "course.course-reviewed"
    natural_key = ("id",)
    time_field = "reviewed_at"

    id: Id
    user_id: Id
    course_id: Id
    rating: Annotated[int, Field(ge=1, le=5)]
    reviewed_at: Timestamp


class VideoWatched(Event):
    event_type = "VideoWatched"
    topic = "progress.video-watched"
    natural_key = ("user_id", "video_id", "watched_at")
    time_field = "watched_at"

    user_id: Id
    course_id: Id
    lesson_id: Id
    video_id: Id
    watched_seconds: Seconds
    playback_rate: Annotated[float, Field(gt=0, le=16)]
    completed: bool
    watched_at: Timestamp


# --- tracking events ------------------------------------------------------------------------


class PageView(Event):
    event_type = "PageView"
    topic = "tracking.page-views"
    natural_key = ("id",)
    time_field = "created_at"

    id: Id
    user_id: Text
    session_id: Text = ""
    url: Text
    path: Text = ""
    title: Text = ""
    referrer: Text = ""
    time_on_page: Seconds = 0
    entry_page: bool = False
    exit_page: bool = False
    client_metadata: ClientMetadata = ClientMetadata()
    created_at: Timestamp


class UserActivity(Event):
    event_type = "UserActivity"
    topic = "tracking.user-activities"
    natural_key = ("id",)
    time_field = "created_at"

    id: Id
    user_id: Id
    activity_type: Annotated[str, Field(min_length=1)]
    resource_type: Text = ""
    resource_id: Text = ""
    action: Text = ""
    duration: Seconds = 0
    client_metadata: ClientMetadata = ClientMetadata()
    created_at: Timestamp


EVENT_TYPES: tuple[type[Event], ...] = (
    UserCreated,
    UserLoggedIn,
    UserEnrolled,
    CourseCompleted,
    ProgressUpdated,
    QuizCompleted,
    AssignmentSubmitted,
    PaymentCompleted,
    ContentPublished,
    UserUnenrolled,
    QuestionAnswered,
    AssignmentGraded,
    CourseReviewed,
    VideoWatched,
    PageView,
    UserActivity,
)
BY_NAME: dict[str, type[Event]] = {model.event_type: model for model in EVENT_TYPES}
BY_TOPIC: dict[str, type[Event]] = {model.topic: model for model in EVENT_TYPES}
