"""The traffic simulator: deterministic, complete, consistent, faulty on purpose, and produced
whole to the real broker."""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import typer
from confluent_kafka import Consumer, TopicPartition
from typer.testing import CliRunner

from ingestion.decoding import Coordinates, Decoded, Rejected, decode
from ingestion.events import BY_TOPIC, EVENT_TYPES
from ingestion.simulator.cli import simulate
from ingestion.simulator.faults import DUPLICATE, EVENT, LATE, MALFORMED, MALFORMED_CLASSES
from ingestion.simulator.producer import check_broker, produce_messages
from ingestion.simulator.simulation import (
    Simulation,
    SimulationConfig,
    SimulatorError,
    default_end,
    generate_messages,
)

END = datetime(2026, 6, 1, tzinfo=UTC)
SCHOOL = SimulationConfig(orgs=2, users=150, courses=6, days=21, seed=11, end=END)
FAULTY = SimulationConfig(
    orgs=2, users=80, courses=5, days=14, seed=5, end=END, duplicates=0.1, late=0.1, malformed=0.05
)
SESSION_TIMEOUT = timedelta(minutes=30)


def decode_all(messages):
    return [
        decode(Coordinates(m.topic, 0, offset, (m.key or b"").decode()), m.value, m.headers)
        for offset, m in enumerate(messages)
    ]


@pytest.fixture(scope="module")
def school():
    """The good events of a small school: (messages, decoded events by type)."""
    messages = list(generate_messages(SCHOOL))
    decoded = decode_all(messages)
    by_type: dict[str, list] = defaultdict(list)
    for result in decoded:
        assert isinstance(result, Decoded), result
        by_type[result.event.event_type].append(result.event)
    return messages, decoded, by_type


@pytest.fixture(scope="module")
def faulty():
    simulation = Simulation(FAULTY)
    messages = list(simulation)
    return simulation, messages, decode_all(messages)


# --- determinism -------------------------------------------------------------------------------


def test_same_arguments_give_byte_identical_messages_and_another_seed_does_not():
    config = SimulationConfig(
        users=40, courses=3, days=5, seed=3, end=END, duplicates=0.1, late=0.1, malformed=0.1
    )
    first = list(generate_messages(config))
    assert first == list(generate_messages(config))
    other = list(generate_messages(SimulationConfig(**{**config.__dict__, "seed": 4})))
    assert [m.value for m in other] != [m.value for m in first]


def test_faults_leave_the_good_events_unchanged():
    clean = SimulationConfig(users=40, courses=3, days=5, seed=3, end=END)
    noisy = SimulationConfig(**{**clean.__dict__, "duplicates": 0.2, "late": 0.2, "malformed": 0.1})
    good = [m.value for m in generate_messages(noisy) if m.kind in (EVENT, LATE)]
    assert sorted(good) == sorted(m.value for m in generate_messages(clean))


# --- the event contract --------------------------------------------------------------------------


def test_every_event_type_appears(school):
    _, _, by_type = school
    assert set(by_type) == {model.event_type for model in EVENT_TYPES}


def test_a_small_school_month_gives_tens_of_thousands_of_events():
    simulation = Simulation(SimulationConfig(orgs=2, users=200, courses=8, days=30, end=END))
    assert 20_000 < sum(1 for _ in simulation) < 150_000


def test_every_message_decodes_to_its_model_and_serialises_back_to_the_same_bytes(school):
    messages, decoded, _ = school
    for message, result in zip(messages, decoded, strict=True):
        assert type(result.event) is BY_TOPIC[message.topic]
        assert result.event.to_message() == message.value


def test_distinct_events_never_share_an_event_id(school):
    _, decoded, _ = school
    ids = Counter(result.event_id for result in decoded)
    assert ids.most_common(1)[0][1] == 1


def test_message_key_is_the_user_id_where_the_event_has_one(school):
    messages, decoded, _ = school
    for message, result in zip(messages, decoded, strict=True):
        event = result.event
        user = getattr(event, "user_id", None)
        if event.event_type in ("UserCreated", "UserLoggedIn"):
            user = event.id
        if event.event_type == "ContentPublished":
            assert message.key == event.course_id.encode()
        elif user:
            assert message.key == user.encode()
        else:  # crawlers are anonymous
            assert message.key is None


def test_all_event_times_lie_in_the_window_and_the_stream_is_in_event_time_order(school):
    _, _, by_type = school
    times = [
        e.event_time for events in by_type.values() for e in events
    ]  # every event type's time field
    start = END - timedelta(days=SCHOOL.days)
    assert start <= min(times) and max(times) <= END
    due = [e.due_at for e in by_type["ContentPublished"] if e.due_at is not None]
    assert due and max(due) <= END
    _, decoded, _ = school
    stream_times = [result.event.event_time for result in decoded]
    assert stream_times == sorted(stream_times)


def test_default_end_is_the_current_hour_and_an_end_in_the_future_is_refused():
    now = datetime.now(UTC)
    simulation = Simulation(SimulationConfig(users=5, courses=1, days=1))
    assert simulation.end == default_end(now) or simulation.end == default_end()
    assert simulation.end <= datetime.now(UTC)
    with pytest.raises(SimulatorError, match="in the future"):
        Simulation(SimulationConfig(end=now + timedelta(hours=2)))
    with pytest.raises(SimulatorError, match="fraction"):
        Simulation(SimulationConfig(end=END, late=1.5))


# --- the story holds together ------------------------------------------------------------


def test_every_answered_question_belongs_to_a_completed_attempt_with_a_consistent_score(school):
    _, _, by_type = school
    attempts = {q.attempt_id: q for q in by_type["QuizCompleted"] if q.attempt_id}
    answers = defaultdict(list)
    for answer in by_type["QuestionAnswered"]:
        answers[answer.attempt_id].append(answer)
    assert set(answers) == set(attempts)
    questions = defaultdict(set)
    for item in by_type["ContentPublished"]:
        if item.item_type == "question":
            questions[item.parent_id].add(item.item_id)
    for attempt_id, quiz in attempts.items():
        given = answers[attempt_id]
        assert {a.question_id for a in given} == questions[quiz.quiz_id]
        assert all(a.user_id == quiz.user_id and a.quiz_id == quiz.quiz_id for a in given)
        correct = sum(a.outcome == "correct" for a in given)
        assert quiz.score == round(100 * correct / len(given), 2)
        assert all(a.answered_at <= quiz.completed_at for a in given)
        if quiz.started_at is not None:
            assert all(quiz.started_at <= a.answered_at for a in given)
    assert {a.outcome for a in by_type["QuestionAnswered"]} == {"correct", "incorrect", "skipped"}


def test_passed_means_the_score_reached_the_quiz_pass_mark(school):
    _, _, by_type = school
    scores = defaultdict(lambda: {True: [], False: []})
    for quiz in by_type["QuizCompleted"]:
        scores[quiz.quiz_id][quiz.passed].append(quiz.score)
    for outcome in scores.values():
        if outcome[True] and outcome[False]:
            assert max(outcome[False]) < min(outcome[True])
    assert any(o[True] for o in scores.values()) and any(o[False] for o in scores.values())


def test_completions_drops_and_payments_follow_an_enrolment(school):
    _, _, by_type = school
    enrolled = defaultdict(list)
    for e in by_type["UserEnrolled"]:
        enrolled[(e.user_id, e.course_id)].append(e.enrolled_at)
    completions = Counter((c.user_id, c.course_id) for c in by_type["CourseCompleted"])
    assert max(completions.values()) == 1
    for c in by_type["CourseCompleted"]:
        assert min(enrolled[(c.user_id, c.course_id)]) <= c.completed_at
    enrolment_ids = {e.id: e for e in by_type["UserEnrolled"]}
    for u in by_type["UserUnenrolled"]:
        assert enrolment_ids[u.id].enrolled_at <= u.unenrolled_at
        assert (enrolment_ids[u.id].user_id, enrolment_ids[u.id].course_id) == (
            u.user_id,
            u.course_id,
        )
    for p in by_type["PaymentCompleted"]:
        assert any(t >= p.completed_at for t in enrolled[(p.user_id, p.course_id)])
    assert {p.currency for p in by_type["PaymentCompleted"]} >= {"USD", "EUR", "GBP", "INR"}
    # a funnel: some complete, some leave, most are still on their way
    assert 0 < len(completions) < len(enrolment_ids)
    assert 0 < len(by_type["UserUnenrolled"]) < len(enrolment_ids)


def test_completed_learners_finished_every_lesson_of_the_latest_structure(school):
    _, _, by_type = school
    lessons = defaultdict(set)
    for item in by_type["ContentPublished"]:
        if item.item_type == "lesson":
            lessons[item.course_id].add(item.item_id)
    done = defaultdict(set)
    for p in by_type["ProgressUpdated"]:
        assert p.lesson_id in lessons[p.course_id]
        if p.percent_complete == 100:
            done[(p.user_id, p.course_id)].add(p.lesson_id)
    for c in by_type["CourseCompleted"]:
        assert done[(c.user_id, c.course_id)] == lessons[c.course_id]


def test_users_exist_before_they_act_and_belong_to_organisations(school):
    _, _, by_type = school
    created = {u.id: u.created_at for u in by_type["UserCreated"]}
    assert len(created) == SCHOOL.users
    orgs = Counter(u.organization_id for u in by_type["UserCreated"])
    assert len([o for o in orgs if o]) == SCHOOL.orgs
    for event_type, events in by_type.items():
        for e in events:
            user = e.id if event_type in ("UserLoggedIn",) else getattr(e, "user_id", None)
            if user:
                assert created[user] <= e.event_time, event_type


def test_structure_has_every_item_type_positions_due_dates_and_retitled_items(school):
    _, _, by_type = school
    items = by_type["ContentPublished"]
    assert {i.item_type for i in items} == {
        "module", "lesson", "quiz", "question", "assignment", "video"
    }  # fmt: skip
    assert all(i.due_at is not None for i in items if i.item_type == "assignment")
    quizzes = {i.item_id for i in items if i.item_type == "quiz"}
    assert all(i.parent_id in quizzes for i in items if i.item_type == "question")
    titles = defaultdict(list)
    for i in items:
        titles[(i.item_type, i.item_id)].append(i.title)
    assert any(len(set(t)) > 1 for t in titles.values())  # republished under a new title
    positions = defaultdict(list)
    for i in items:
        if titles[(i.item_type, i.item_id)][0] == i.title:
            positions[i.parent_id].append(i.position)
    assert all(sorted(p) == list(range(1, len(p) + 1)) for p in positions.values())


def test_assignments_are_submitted_late_and_on_time_and_some_are_regraded(school):
    _, _, by_type = school
    due = {i.item_id: i.due_at for i in by_type["ContentPublished"] if i.item_type == "assignment"}
    submitted = defaultdict(list)
    for s in by_type["AssignmentSubmitted"]:
        submitted[(s.user_id, s.assignment_id)].append(s.submitted_at)
    lateness = Counter(
        s.submitted_at > due[s.assignment_id] for s in by_type["AssignmentSubmitted"]
    )
    assert lateness[True] and lateness[False]
    grades = Counter((g.user_id, g.assignment_id) for g in by_type["AssignmentGraded"])
    for g in by_type["AssignmentGraded"]:
        assert min(submitted[(g.user_id, g.assignment_id)]) < g.graded_at
    assert max(grades.values()) >= 2


def test_reviews_videos_and_tracking_cover_the_spec(school):
    _, _, by_type = school
    reviews = Counter((r.user_id, r.course_id) for r in by_type["CourseReviewed"])
    assert max(reviews.values()) >= 2  # someone changed their mind
    assert {r.rating for r in by_type["CourseReviewed"]} >= {2, 3, 4, 5}
    videos = by_type["VideoWatched"]
    assert len({v.playback_rate for v in videos}) >= 4
    assert {v.completed for v in videos} == {True, False}
    activities = by_type["UserActivity"]
    assert {a.activity_type for a in activities} == {
        "login", "page_view", "content_interaction", "forum_post", "comment", "video", "search"
    }  # fmt: skip
    assert {a.resource_type for a in activities} >= {
        "course", "module", "lesson", "quiz", "assignment", "video", "forum"
    }  # fmt: skip
    assert {a.action for a in activities} >= {"view", "start", "complete", "submit", "post"}
    assert any(a.resource_type == "course" and a.action == "view" for a in activities)
    agents = {e.client_metadata.device_type for e in by_type["PageView"]}
    assert agents == {"desktop", "mobile", "tablet", "bot"}
    assert any("python-requests" in login.user_agent for login in by_type["UserLoggedIn"])


def test_page_views_form_sessions_with_one_entry_one_exit_and_campaign_parameters(school):
    _, _, by_type = school
    sessions = defaultdict(list)
    per_user = defaultdict(list)
    for view in by_type["PageView"]:
        if view.session_id:
            sessions[view.session_id].append(view)
        if view.user_id:
            per_user[view.user_id].append(view)
    assert any(not v.session_id for v in by_type["PageView"])  # old clients send none
    for views in sessions.values():
        views.sort(key=lambda v: v.created_at)
        assert [v.entry_page for v in views] == [True] + [False] * (len(views) - 1)
        assert [v.exit_page for v in views] == [False] * (len(views) - 1) + [True]
        assert all(v.referrer == prev.url for prev, v in itertools.pairwise(views))
    # The 30-minute rule finds the same sessions as the SessionID.
    for views in per_user.values():
        views.sort(key=lambda v: v.created_at)
        for prev, view in itertools.pairwise(views):
            new_session = view.created_at - prev.created_at > SESSION_TIMEOUT
            assert new_session == (view.entry_page and prev.exit_page)
    campaigns = [parse_qs(urlsplit(v.url).query) for v in by_type["PageView"] if v.entry_page]
    tagged = [q for q in campaigns if "utm_source" in q]
    assert tagged and all({"utm_medium", "utm_campaign"} <= set(q) for q in tagged)
    assert any(v.referrer.startswith("https://www.google.com") for v in by_type["PageView"])
    assert any(v.time_on_page > 0 for v in by_type["PageView"])


# --- faults ---------------------------------------------------------------------------------


def test_fault_fractions_are_honoured(faulty):
    simulation, messages, _ = faulty
    stats = simulation.stats
    kinds = Counter(m.kind for m in messages)
    assert kinds[EVENT] + kinds[LATE] == stats.events
    assert kinds[LATE] == stats.late and kinds[DUPLICATE] == stats.duplicates
    assert kinds[MALFORMED] == stats.malformed
    for kind, share in ((LATE, 0.1), (DUPLICATE, 0.1), (MALFORMED, 0.05)):
        assert kinds[kind] == pytest.approx(share * stats.events, rel=0.15), kind


def test_duplicates_repeat_an_earlier_message_exactly_with_and_without_event_id_header(faulty):
    _, messages, decoded = faulty
    seen = {}
    headers = Counter()
    for message, result in zip(messages, decoded, strict=True):
        identity = (message.topic, message.key, message.value, message.headers)
        if message.kind == DUPLICATE:
            assert identity in seen
            assert seen[identity] == result.event_id  # dedupes
            headers[bool(message.headers)] += 1
        elif message.kind != MALFORMED:
            seen[identity] = result.event_id
    assert headers[True] and headers[False]
    good_ids = {r.event_id for m, r in zip(messages, decoded, strict=True) if m.kind != MALFORMED}
    assert len(good_ids) == sum(1 for m in messages if m.kind in (EVENT, LATE))


def test_late_messages_arrive_after_later_events_of_their_topic(faulty):
    _, messages, decoded = faulty
    latest = {}
    overtaken = 0
    for message, result in zip(messages, decoded, strict=True):
        if message.kind == MALFORMED:
            continue
        time_ = result.event.event_time
        if message.kind == LATE and latest.get(message.topic, time_) > time_:
            overtaken += 1
        latest[message.topic] = max(latest.get(message.topic, time_), time_)
    late = sum(1 for m in messages if m.kind == LATE)
    assert overtaken >= 0.8 * late


def test_each_malformed_class_is_rejected_with_its_error_class(faulty):
    _, messages, decoded = faulty
    classes = Counter()
    for message, result in zip(messages, decoded, strict=True):
        if message.kind == MALFORMED:
            assert isinstance(result, Rejected), message
            assert result.error_class == MALFORMED_CLASSES[message.fault], (message, result)
            classes[message.fault] += 1
        else:
            assert isinstance(result, Decoded), result
    assert set(classes) == set(MALFORMED_CLASSES)
    assert max(classes.values()) - min(classes.values()) <= 1  # they take turns


# --- the command and the broker ----------------------------------------------------------------


def test_dry_run_command_prints_the_summary():
    app = typer.Typer()
    app.command("simulate")(simulate)
    app.command("unused")(lambda: None)
    result = CliRunner().invoke(
        app,
        ["simulate", "--users", "20", "--courses", "2", "--days", "3", "--end",
         "2026-06-01T00:00:00Z", "--malformed", "0.05", "--dry-run"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert re.search(r"auth\.user-created\W+20\W", result.output)
    assert "not_json" in result.output
    assert "generated (dry run, nothing produced)" in result.output


def consume_counts(settings, topics: list[str], expected: int, partitions: int) -> Counter:
    """Messages per (prefixed) topic, read from offset 0 with assign()."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"count-{uuid.uuid4().hex}"}
    )
    values: Counter = Counter()
    try:
        consumer.assign(
            [TopicPartition(topic, p, 0) for topic in topics for p in range(partitions)]
        )
        deadline = time.monotonic() + 20
        quiet_until = None
        while time.monotonic() < deadline:
            batch = consumer.consume(10_000, 0.5)
            for message in batch:
                assert message.error() is None, message.error()
                values[(message.topic(), message.key(), message.value())] += 1
            total = sum(values.values())
            if total >= expected and not batch:
                quiet_until = quiet_until or time.monotonic() + 1.0  # any stragglers?
                if time.monotonic() >= quiet_until:
                    break
    finally:
        consumer.close()
    return values


def test_producing_puts_exactly_the_generated_messages_into_the_topics(local_stack):
    settings = local_stack.model_copy(update={"kafka_topic_prefix": f"sim{uuid.uuid4().hex[:8]}."})
    config = SimulationConfig(
        users=60, courses=3, days=7, seed=9, end=END, duplicates=0.05, late=0.05, malformed=0.02
    )
    messages = list(generate_messages(config))
    report = produce_messages(settings, messages, partitions=2)
    assert report.failed == 0 and report.sent == len(messages)
    assert len(report.topics_created) == 16
    topics = [settings.kafka_topic(model.topic) for model in EVENT_TYPES]
    produced = consume_counts(settings, topics, len(messages), partitions=2)
    expected = Counter((settings.kafka_topic(m.topic), m.key, m.value) for m in messages)
    assert produced == expected


def test_rate_limit_slows_production_to_the_given_rate(local_stack):
    settings = local_stack.model_copy(update={"kafka_topic_prefix": f"sim{uuid.uuid4().hex[:8]}."})
    messages = list(generate_messages(SimulationConfig(users=30, courses=1, days=1, end=END)))
    messages = messages[:400]
    assert len(messages) == 400
    started = time.monotonic()
    produce_messages(settings, messages, rate=1000)
    assert time.monotonic() - started >= 0.399


def test_an_unreachable_broker_is_one_clear_error(settings_factory):
    settings = settings_factory(kafka_bootstrap_servers="127.0.0.1:1")
    with pytest.raises(SimulatorError, match=r"cannot reach Kafka at 127\.0\.0\.1:1.*stack up"):
        check_broker(settings, timeout=1.0)
