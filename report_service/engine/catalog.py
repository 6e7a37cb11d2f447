"""The catalog of report types: which mart each reads and what a report may ask of it.

For each report type (`report_service.domain.ReportType`): its mart table (database
`analytics` by default, built by dbt), its metrics (numeric columns, each with the aggregation
used when the report has dimensions), its dimensions (what rows are grouped by), its filterable
fields with their operators, its date field (what a report period restricts) and its row key
(the columns that identify a row when a report has no dimensions).

Aggregation per metric (applied when a report has dimensions; metrics.md defines the columns):
- counts and totals: `sum`;
- rates, scores and averages: the mean weighted by the row's own denominator when the mart
  holds it exactly (e.g. a course's `average_completion_rate` is the mean over its enrolments,
  so across courses it is weighted by `total_enrollments`, which gives the exact mean over all
  enrolments); otherwise the plain mean of the rows (`avg`), e.g. `module.completion_rate`
  (learners who started the module are not in the mart). Rows whose value is NULL (averages
  over nothing) are left out; a group with nothing to average is NULL;
- durations of single events (a session, a page view, an activity): `avg`;
- `count`: the number of mart rows (sessions, page views, courses, ...) in the group.

The period restricts the date field, a half-open interval [start, end):
- event tables: when it happened (`sessions.start_time`, `page_views.created_at`,
  `user_activities.created_at`);
- analytics marts (one row per course, user, ...): `updated_at`, the last build that changed
  the row, i.e. rows with new activity in the period. Their figures are always cumulative
  "as of" the latest build (metrics.md); a report without a period lists every row.

Every name here is a mart column written by this file (never by a user), checked against
`SQL_NAME` when the catalog is built, so the compiler may quote it into SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from report_service.domain import ReportType
from report_service.engine.errors import UnknownNameError

SQL_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class FieldKind(StrEnum):
    """What a column holds; decides the operators, the query parameter type and formatting."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    DATETIME = "datetime"
    DATE = "date"
    BOOLEAN = "boolean"
    STRING_ARRAY = "string_array"


class Operator(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    IN = "in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    CONTAINS = "contains"


OPERATORS_BY_KIND: Mapping[FieldKind, frozenset[Operator]] = MappingProxyType(
    {
        FieldKind.STRING: frozenset({Operator.EQ, Operator.NEQ, Operator.IN, Operator.CONTAINS}),
        FieldKind.INTEGER: frozenset(Operator) - {Operator.CONTAINS},
        FieldKind.FLOAT: frozenset(Operator) - {Operator.CONTAINS},
        FieldKind.DATETIME: frozenset(
            {Operator.GT, Operator.GTE, Operator.LT, Operator.LTE, Operator.BETWEEN}
        ),
        FieldKind.DATE: frozenset(Operator) - {Operator.CONTAINS},
        FieldKind.BOOLEAN: frozenset({Operator.EQ, Operator.NEQ}),
        FieldKind.STRING_ARRAY: frozenset({Operator.CONTAINS}),
    }
)


class Aggregation(StrEnum):
    SUM = "sum"
    AVG = "avg"
    WEIGHTED_AVG = "weighted_avg"
    COUNT = "count"


class Unit(StrEnum):
    """How a metric reads to a person (PDF and email formatting)."""

    COUNT = "count"
    RATE = "rate"  # a fraction in [0, 1], shown as a percentage
    SCORE = "score"  # 0-100 or a rating
    SECONDS = "seconds"
    MONEY = "money"


class TimeBucket(StrEnum):
    """Derived dimensions of an event table's date field, in the report time zone."""

    DAY = "day"
    WEEK = "week"  # starting on Monday
    MONTH = "month"


@dataclass(frozen=True)
class Metric:
    name: str
    unit: Unit
    aggregation: Aggregation
    description: str
    weight: str | None = None  # for WEIGHTED_AVG: the mart column holding the denominator

    @property
    def kind(self) -> FieldKind:
        return FieldKind.INTEGER if self.unit is Unit.COUNT else FieldKind.FLOAT


@dataclass(frozen=True)
class Dimension:
    name: str
    kind: FieldKind
    description: str
    bucket: TimeBucket | None = None  # set: derived from the date field, not a mart column


@dataclass(frozen=True)
class FilterField:
    name: str
    kind: FieldKind

    @property
    def operators(self) -> frozenset[Operator]:
        return OPERATORS_BY_KIND[self.kind]


@dataclass(frozen=True)
class ReportTypeSpec:
    type: ReportType
    table: str
    description: str
    date_field: str
    row_key: tuple[str, ...]
    metrics: Mapping[str, Metric]
    dimensions: Mapping[str, Dimension]
    filters: Mapping[str, FilterField]
    column_kinds: Mapping[str, FieldKind] = field(repr=False)

    def kind_of(self, column: str) -> FieldKind:
        return self.column_kinds[column]


COUNT_METRIC = "count"

# --- building blocks --------------------------------------------------------------------------


def _count(name: str, description: str) -> Metric:
    return Metric(name, Unit.COUNT, Aggregation.SUM, description)


def _mean(name: str, unit: Unit, description: str, weight: str | None = None) -> Metric:
    aggregation = Aggregation.WEIGHTED_AVG if weight else Aggregation.AVG
    return Metric(name, unit, aggregation, description, weight)


def _id(name: str, description: str) -> Dimension:
    return Dimension(name, FieldKind.STRING, description)


CLIENT_DIMENSIONS = (
    _id("client_device_type", "Device type of the client: desktop, mobile or tablet."),
    _id("client_browser", "Browser of the client."),
    _id("client_operating_system", "Operating system of the client."),
)
TIME_DIMENSIONS = (
    Dimension("day", FieldKind.DATE, "Day of the date field (report time zone).", TimeBucket.DAY),
    Dimension("week", FieldKind.DATE, "Week (from Monday) of the date field.", TimeBucket.WEEK),
    Dimension("month", FieldKind.DATE, "Month of the date field.", TimeBucket.MONTH),
)
BOOKKEEPING = {"created_at": FieldKind.DATETIME, "updated_at": FieldKind.DATETIME}


def _spec(
    report_type: ReportType,
    table: str,
    description: str,
    *,
    date_field: str,
    row_key: Iterable[str],
    metrics: Iterable[Metric],
    dimensions: Iterable[Dimension],
    other_filters: Mapping[str, FieldKind] = MappingProxyType({}),
    event_table: bool = False,
) -> ReportTypeSpec:
    metric_list = [*metrics, Metric(COUNT_METRIC, Unit.COUNT, Aggregation.COUNT, "Rows counted.")]
    dimension_list = [*dimensions, *(TIME_DIMENSIONS if event_table else ())]
    column_kinds: dict[str, FieldKind] = {}
    for metric in metric_list:
        if metric.aggregation is not Aggregation.COUNT:
            column_kinds[metric.name] = metric.kind
    for dimension in dimension_list:
        if dimension.bucket is None:
            column_kinds[dimension.name] = dimension.kind
    column_kinds.update(other_filters)
    if not event_table:
        column_kinds.update(BOOKKEEPING)
    filters = {name: FilterField(name, kind) for name, kind in column_kinds.items()}
    spec = ReportTypeSpec(
        type=report_type,
        table=table,
        description=description,
        date_field=date_field,
        row_key=tuple(row_key),
        metrics=MappingProxyType({metric.name: metric for metric in metric_list}),
        dimensions=MappingProxyType({dimension.name: dimension for dimension in dimension_list}),
        filters=MappingProxyType(filters),
        column_kinds=MappingProxyType(column_kinds),
    )
    _check(spec)
    return spec


def _check(spec: ReportTypeSpec) -> None:
    """The catalog's own consistency: fails at import, never in a report run."""
    names = [spec.table, *spec.column_kinds, *spec.metrics, *spec.dimensions]
    bad = [name for name in names if not SQL_NAME.match(name)]
    if bad:
        raise ValueError(f"{spec.type}: names that are not plain SQL names: {bad}")
    clash = set(spec.metrics) & set(spec.dimensions)
    if clash:
        raise ValueError(f"{spec.type}: both metric and dimension: {sorted(clash)}")
    if spec.column_kinds.get(spec.date_field) is not FieldKind.DATETIME:
        raise ValueError(f"{spec.type}: date field {spec.date_field} is not a datetime column")
    missing = [name for name in spec.row_key if name not in spec.column_kinds]
    if missing:
        raise ValueError(f"{spec.type}: row key columns without a kind: {missing}")
    for metric in spec.metrics.values():
        if metric.weight is not None and metric.weight not in spec.column_kinds:
            raise ValueError(f"{spec.type}: weight {metric.weight} of {metric.name} unknown")


# --- the report types -------------------------------------------------------------------------

RATE, SCORE, SECONDS = Unit.RATE, Unit.SCORE, Unit.SECONDS
COURSE = _id("course_id", "Course id.")
MODULE = _id("module_id", "Module id.")
LESSON = _id("lesson_id", "Lesson id.")
USER = _id("user_id", "User id.")

_SPECS = [
    _spec(
        ReportType.COURSE,
        "course_analytics",
        "One row per course: enrolments, completion, views, ratings and revenue.",
        date_field="updated_at",
        row_key=["course_id"],
        metrics=[
            _count("total_enrollments", "Distinct enrolments."),
            _count("active_enrollments", "Enrolments neither completed nor dropped."),
            _count("completed_enrollments", "Enrolments with a course completion."),
            _count("dropped_enrollments", "Enrolments whose latest event is an unenrolment."),
            _mean(
                "average_completion_rate",
                RATE,
                "Mean learner progress over the enrolments.",
                "total_enrollments",
            ),
            _mean(
                "average_time_to_complete",
                SECONDS,
                "Mean seconds from first enrolment to completion.",
                "completed_enrollments",
            ),
            _count("total_views", "Course page views."),
            _count("unique_views", "Distinct viewers (summed over rows when grouped)."),
            _mean("average_rating", SCORE, "Mean latest rating per learner.", "total_reviews"),
            _count("total_reviews", "Learners who reviewed the course."),
            Metric(
                "revenue",
                Unit.MONEY,
                Aggregation.SUM,
                "Payments converted to the reporting currency.",
            ),
        ],
        dimensions=[COURSE, _id("currency", "Reporting currency of the revenue.")],
    ),
    _spec(
        ReportType.MODULE,
        "module_analytics",
        "One row per module: views, time spent, completion and drop-off.",
        date_field="updated_at",
        row_key=["course_id", "module_id"],
        metrics=[
            _count("total_views", "Module views."),
            _count("unique_views", "Distinct viewers (summed over rows when grouped)."),
            _mean("average_time_spent", SECONDS, "Mean seconds per learner with activity."),
            _mean("completion_rate", RATE, "Learners who completed / learners who started."),
            _mean("dropoff_rate", RATE, "Share of starters who went no further."),
        ],
        dimensions=[COURSE, MODULE],
    ),
    _spec(
        ReportType.LESSON,
        "lesson_analytics",
        "One row per lesson: views, time spent, completion, drop-off and video.",
        date_field="updated_at",
        row_key=["course_id", "module_id", "lesson_id"],
        metrics=[
            _count("total_views", "Lesson views."),
            _count("unique_views", "Distinct viewers (summed over rows when grouped)."),
            _mean("average_time_spent", SECONDS, "Mean seconds per learner with activity."),
            _mean("completion_rate", RATE, "Learners who completed / learners who started."),
            _mean("dropoff_rate", RATE, "Share of starters who went no further."),
            _mean("average_video_playback_rate", Unit.SCORE, "Mean playback speed (weighted)."),
            _mean("video_completion_rate", RATE, "Completed / watched (user, video) pairs."),
        ],
        dimensions=[COURSE, MODULE, LESSON],
    ),
    _spec(
        ReportType.QUIZ,
        "quiz_analytics",
        "One row per quiz: attempts, scores, pass rate and time.",
        date_field="updated_at",
        row_key=["course_id", "quiz_id"],
        metrics=[
            _count("total_attempts", "Quiz attempts."),
            _count("unique_attempts", "Distinct users (summed over rows when grouped)."),
            _mean("average_score", SCORE, "Mean score over attempts.", "total_attempts"),
            _mean("pass_rate", RATE, "Passed attempts / attempts.", "total_attempts"),
            _mean("average_time_to_complete", SECONDS, "Mean seconds per timed attempt."),
        ],
        dimensions=[COURSE, MODULE, LESSON, _id("quiz_id", "Quiz id.")],
        other_filters={"most_missed_questions": FieldKind.STRING_ARRAY},
    ),
    _spec(
        ReportType.QUESTION,
        "question_analytics",
        "One row per quiz question: responses, time, difficulty and discrimination.",
        date_field="updated_at",
        row_key=["quiz_id", "question_id"],
        metrics=[
            _count("total_attempts", "Answers."),
            _count("correct_responses", "Correct answers."),
            _count("incorrect_responses", "Incorrect answers."),
            _count("skipped_responses", "Skipped answers."),
            _mean("average_time_spent", SECONDS, "Mean seconds per answer."),
            _mean("difficult_rating", RATE, "1 - correct / answers.", "total_attempts"),
            _mean("discrimination_index", Unit.SCORE, "Point-biserial correlation."),
        ],
        dimensions=[_id("quiz_id", "Quiz id."), _id("question_id", "Question id.")],
    ),
    _spec(
        ReportType.ASSIGNMENT,
        "assignment_analytics",
        "One row per assignment: submissions, scores and timeliness.",
        date_field="updated_at",
        row_key=["course_id", "assignment_id"],
        metrics=[
            _count("total_submissions", "Submissions."),
            _count("unique_submissions", "Distinct submitters (summed over rows when grouped)."),
            _mean("average_score", SCORE, "Mean latest grade per user."),
            _mean("submission_rate", RATE, "Submitters / enrolments not dropped."),
            _mean("late_submission_rate", RATE, "Late / all submissions.", "total_submissions"),
            _mean("average_time_to_submit", SECONDS, "Mean seconds to first submission."),
        ],
        dimensions=[COURSE, MODULE, LESSON, _id("assignment_id", "Assignment id.")],
    ),
    _spec(
        ReportType.USER,
        "user_analytics",
        "One row per user: logins, sessions, learning progress and engagement.",
        date_field="updated_at",
        row_key=["user_id"],
        metrics=[
            _count("total_logins", "Logins."),
            _count("total_session_time", "Seconds in sessions."),
            _mean("average_session_time", SECONDS, "Mean session seconds."),
            _count("total_page_views", "Page views."),
            _count("total_course_enrollments", "Enrolments."),
            _count("completed_courses", "Completed courses."),
            _mean(
                "average_course_completion_rate",
                RATE,
                "Mean learner progress over enrolments.",
                "total_course_enrollments",
            ),
            _count("total_quiz_attempts", "Quiz attempts."),
            _mean("average_quiz_score", SCORE, "Mean quiz score.", "total_quiz_attempts"),
            _count("total_assignment_submissions", "Assignment submissions."),
            _mean("average_assignment_score", SCORE, "Mean latest grade per assignment."),
            _count("total_forum_posts", "Forum posts."),
            _count("total_comments", "Comments."),
            _mean("engagement_score", SCORE, "Engagement score, 0-100."),
        ],
        dimensions=[USER],
        other_filters={"last_login": FieldKind.DATETIME},
    ),
    _spec(
        ReportType.ORGANIZATION,
        "organization_analytics",
        "One row per organisation: members, activity, learning and engagement.",
        date_field="updated_at",
        row_key=["organization_id"],
        metrics=[
            _count("total_users", "Members."),
            _count("active_users", "Members active in the last 30 days."),
            _count("total_course_enrollments", "Enrolments."),
            _count("completed_courses", "Completed courses."),
            _mean(
                "average_course_completion_rate",
                RATE,
                "Mean learner progress over enrolments.",
                "total_course_enrollments",
            ),
            _count("total_session_time", "Seconds in sessions."),
            _mean("average_session_time", SECONDS, "Mean session seconds."),
            _count("total_page_views", "Page views."),
            _count("total_quiz_attempts", "Quiz attempts."),
            _mean("average_quiz_score", SCORE, "Mean quiz score.", "total_quiz_attempts"),
            _count("total_assignment_submissions", "Assignment submissions."),
            _mean("average_assignment_score", SCORE, "Mean latest grade."),
            _mean("engagement_score", SCORE, "Mean member engagement.", "total_users"),
        ],
        dimensions=[_id("organization_id", "Organisation id.")],
    ),
    _spec(
        ReportType.SESSIONS,
        "sessions",
        "One row per session: duration, page views, entry and traffic source.",
        date_field="start_time",
        row_key=["start_time", "id", "user_id"],
        metrics=[
            _mean("duration", SECONDS, "Seconds from first page view to the end of the last."),
            _count("page_views", "Page views in the session."),
        ],
        dimensions=[
            USER,
            _id("entry_page", "URL of the first page view."),
            _id("exit_page", "URL of the last page view."),
            _id("referrer", "Referrer of the first page view."),
            _id("utm_source", "utm_source of the entry URL."),
            _id("utm_medium", "utm_medium of the entry URL."),
            _id("utm_campaign", "utm_campaign of the entry URL."),
            *CLIENT_DIMENSIONS,
        ],
        other_filters={
            "id": FieldKind.STRING,
            "start_time": FieldKind.DATETIME,
            "end_time": FieldKind.DATETIME,
        },
        event_table=True,
    ),
    _spec(
        ReportType.PAGE_VIEWS,
        "page_views",
        "One row per page view.",
        date_field="created_at",
        row_key=["created_at", "id", "user_id"],
        metrics=[_mean("time_on_page", SECONDS, "Seconds on the page.")],
        dimensions=[
            USER,
            _id("session_id", "Session id."),
            _id("path", "Path of the page."),
            _id("url", "URL of the page."),
            _id("title", "Page title."),
            _id("referrer", "Referrer URL."),
            Dimension("entry_page", FieldKind.BOOLEAN, "First page view of its session."),
            Dimension("exit_page", FieldKind.BOOLEAN, "Last page view of its session."),
            *CLIENT_DIMENSIONS,
        ],
        other_filters={"id": FieldKind.STRING, "created_at": FieldKind.DATETIME},
        event_table=True,
    ),
    _spec(
        ReportType.ACTIVITIES,
        "user_activities",
        "One row per user activity (tracked and derived from domain events).",
        date_field="created_at",
        row_key=["created_at", "id", "user_id"],
        metrics=[_mean("duration", SECONDS, "Seconds the activity lasted.")],
        dimensions=[
            USER,
            _id("activity_type", "login, page_view, enrol, quiz_attempt, ..."),
            _id("resource_type", "course, lesson, quiz, ..."),
            _id("resource_id", "Id of the resource."),
            _id("action", "view, start, complete, ..."),
            *CLIENT_DIMENSIONS,
        ],
        other_filters={"id": FieldKind.STRING, "created_at": FieldKind.DATETIME},
        event_table=True,
    ),
]

CATALOG: Mapping[ReportType, ReportTypeSpec] = MappingProxyType({s.type: s for s in _SPECS})
if set(CATALOG) != set(ReportType):
    raise ValueError(f"report types without a catalog entry: {set(ReportType) - set(CATALOG)}")


def spec_for(
    report_type: str, catalog: Mapping[ReportType, ReportTypeSpec] = CATALOG
) -> ReportTypeSpec:
    """The catalog entry of `report_type`, or an UnknownNameError listing the types."""
    try:
        return catalog[ReportType(report_type)]
    except (ValueError, KeyError):
        raise UnknownNameError(
            ("type",), "report type", report_type, [str(t) for t in catalog]
        ) from None


def describe(spec: ReportTypeSpec) -> dict[str, object]:
    """The entry as JSON for the API (GET /v1/report-types)."""
    return {
        "type": spec.type.value,
        "description": spec.description,
        "table": spec.table,
        "date_field": spec.date_field,
        "row_key": list(spec.row_key),
        "metrics": [
            {
                "name": m.name,
                "unit": m.unit.value,
                "aggregation": m.aggregation.value,
                "weight": m.weight,
                "description": m.description,
            }
            for m in spec.metrics.values()
        ],
        "dimensions": [
            {"name": d.name, "kind": d.kind.value, "description": d.description}
            for d in spec.dimensions.values()
        ],
        "filters": [
            {"name": f.name, "kind": f.kind.value, "operators": sorted(f.operators)}
            for f in spec.filters.values()
        ],
    }
