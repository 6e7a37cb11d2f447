"""The good events of a simulated world, in event-time order.

Time advances in 24-hour slices. In each slice every user may have a few sessions (a login, page
views with a SessionID, then actions: browse and enrol, learn, take quizzes, hand in
assignments, watch videos, post in forums, search, review); crawlers visit too. Events of a
session are kept only if the whole session ends by `end`, so no story is cut in half. Events
land in a pending list; after each slice the list is sorted and every event before the slice's
end is released, so the output is ordered by event time (ties in creation order).

Every choice comes from one `random.Random`: a seed always gives the same events.
"""

from __future__ import annotations

import itertools
import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from random import Random

from ingestion import events as ev
from ingestion.simulator import wire
from ingestion.simulator.model import (
    API_CLIENT,
    DAY_MS,
    HOUR_MS,
    LOCAL_PRICES,
    PLATFORM_URL,
    SEARCH_TERMS,
    Course,
    Device,
    Enrolment,
    Lesson,
    User,
    World,
    device_from,
    make_device,
    new_id,
)

# (event time ms, sequence number, topic, key, value, headers)
Item = tuple[int, int, str, bytes | None, bytes, tuple[tuple[str, bytes], ...] | None]

MINUTE_MS = 60_000
SESSION_GAP_MS = 45 * MINUTE_MS  # between a user's sessions: more than the 30-minute timeout
MAX_SITTING_S = 24 * 60  # the longest stretch without a page view, under the 30 minutes

T_USER_CREATED = ev.UserCreated.topic
T_LOGGED_IN = ev.UserLoggedIn.topic
T_ENROLLED = ev.UserEnrolled.topic
T_COMPLETED = ev.CourseCompleted.topic
T_PROGRESS = ev.ProgressUpdated.topic
T_QUIZ = ev.QuizCompleted.topic
T_SUBMITTED = ev.AssignmentSubmitted.topic
T_PAYMENT = ev.PaymentCompleted.topic
T_CONTENT = ev.ContentPublished.topic
T_UNENROLLED = ev.UserUnenrolled.topic
T_ANSWER = ev.QuestionAnswered.topic
T_GRADED = ev.AssignmentGraded.topic
T_REVIEW = ev.CourseReviewed.topic
T_VIDEO = ev.VideoWatched.topic
T_PAGE = ev.PageView.topic
T_ACTIVITY = ev.UserActivity.topic

# Share of each topic's messages that carry an `event_id` header (the collector and billing
# always set one; the auth service never does; the rest sometimes).
HEADER_SHARE = {model.topic: 0.35 for model in ev.EVENT_TYPES} | {
    T_USER_CREATED: 0.0,
    T_LOGGED_IN: 0.0,
    T_PAYMENT: 1.0,
    T_PAGE: 0.9,
    T_ACTIVITY: 0.9,
}

# utm_source, utm_medium, utm_campaign, referrer
CAMPAIGNS = (
    ("google", "cpc", "spring_sale", "https://www.google.com/"),
    ("newsletter", "email", "weekly_digest", ""),
    ("facebook", "social", "course_launch", "https://www.facebook.com/"),
    ("linkedin", "social", "upskill_2026", "https://www.linkedin.com/"),
    ("partner_blog", "referral", "partner_q4", "https://blog.partner.example/best-courses"),
)
SEARCH_ENGINES = ("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/")

TITLE_WELCOME = wire.quote("Welcome to LearnHub")
TITLE_SIGN_IN = wire.quote("Sign in")
TITLE_DASHBOARD = wire.quote("My learning")
TITLE_CATALOG = wire.quote("Course catalog")
TITLE_HOME = wire.quote("LearnHub \u2013 learn anything")
TITLE_CHECKOUT = wire.quote("Checkout")
TITLE_SEARCH = wire.quote("Search results")
TITLE_ACCOUNT = wire.quote("Account settings")
TITLE_FORUM = wire.quote("Discussion forum")
TITLE_NEW_THREAD = wire.quote("New thread")
TITLE_RESULTS = wire.quote("Quiz results")
TITLE_CERTIFICATE = wire.quote("Your certificate")
TITLE_REVIEW = wire.quote("Write a review")
TITLE_COURSE_SETTINGS = wire.quote("Course settings")


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


class Traffic:
    """Iterate to get the world's events as `Item`s, in event-time order."""

    def __init__(self, world: World, rng: Random) -> None:
        self.world = world
        self.rng = rng
        self.clock_ms = world.start_ms  # how far the simulation has got
        self._seq = itertools.count()
        self._pending: list[Item] = []
        self._out: list[Item] = self._pending
        self._later: list[Item] = []
        self._published = sorted(world.courses, key=lambda c: c.published_ms)
        self._published_at = [c.published_ms for c in self._published]
        self._popularity = list(itertools.accumulate(c.popularity for c in self._published))
        countries = ("US", "US", "DE", "IN")
        self._bot_devices = [make_device(rng, "bot", rng.choice(countries)) for _ in range(6)]
        # the current session
        self.t = 0
        self._user: User | None = None
        self._user_id = ""
        self._key: bytes | None = None
        self._base_url = PLATFORM_URL
        self._session_id = ""
        self._meta = ""
        self._pages: list[tuple[int, int, str, str, str, str]] = []
        self._entry_query = ""
        self._entry_referrer = ""

    # --- the stream ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Item]:
        world = self.world
        self._publish_catalogue()
        slice_start = world.start_ms
        while slice_start < world.end_ms:
            slice_end = min(slice_start + DAY_MS, world.end_ms)
            for user in world.users:
                self._user_day(user, slice_start, slice_end)
            self._crawlers(slice_start, slice_end)
            yield from self._release(slice_end)
            slice_start = self.clock_ms = slice_end
        yield from self._release(world.end_ms + 1)  # what is still pending lies after the end

    def _release(self, before: int) -> list[Item]:
        pending = self._pending
        pending.sort()
        cut = bisect_left(pending, (before,))
        ready, self._pending = pending[:cut], pending[cut:]
        self._out = self._pending
        return ready

    # --- emitting -----------------------------------------------------------------------------

    def _headers(self, topic: str) -> tuple[tuple[str, bytes], ...] | None:
        rng = self.rng
        if rng.random() >= HEADER_SHARE[topic]:
            return None
        event_id = new_id(rng).encode()
        if rng.random() < 0.5:
            return (("event_id", event_id),)
        return (("event_id", event_id), ("schema_version", b"1"))

    def _emit(self, ts: int, topic: str, key: bytes | None, value: bytes) -> None:
        self._out.append((ts, next(self._seq), topic, key, value, self._headers(topic)))

    def _schedule(self, ts: int, topic: str, key: bytes | None, value: bytes) -> None:
        """An event of the session's story that happens later (a grade): kept with the session."""
        self._later.append((ts, next(self._seq), topic, key, value, self._headers(topic)))

    # --- time -----------------------------------------------------------------------------------

    def _wait(self, low_s: float, high_s: float) -> int:
        """Advance the session clock by a random number of seconds; return them (whole)."""
        seconds = low_s + self.rng.random() * (high_s - low_s)
        self.t += int(seconds * 1000)
        return int(seconds)

    def _sit(self, seconds: float) -> int:
        seconds = min(seconds, MAX_SITTING_S)
        self.t += int(seconds * 1000)
        return int(seconds)

    # --- the catalogue --------------------------------------------------------------------------

    def _publish_catalogue(self) -> None:
        rng, end = self.rng, self.world.end_ms
        for course in self.world.courses:
            key = course.id.encode()
            t = course.published_ms
            items: list[tuple] = []  # (module, lesson, type, id, parent, position, title, due)
            for module in course.modules:
                items.append((None, None, "module", module.id, course.id, module.position,
                              module.title_json, None))  # fmt: skip
                for lesson in module.lessons:
                    m, lid = module.id, lesson.id
                    items.append((m, lid, "lesson", lid, m, lesson.position,
                                  lesson.title_json, None))  # fmt: skip
                    if (video := lesson.video) is not None:
                        items.append((m, lid, "video", video.id, lid, video.position,
                                      video.title_json, None))  # fmt: skip
                    if (quiz := lesson.quiz) is not None:
                        items.append((m, lid, "quiz", quiz.id, lid, quiz.position,
                                      quiz.title_json, None))  # fmt: skip
                        items.extend((m, lid, "question", q.id, quiz.id, q.position,
                                      q.title_json, None) for q in quiz.questions)  # fmt: skip
                    if (assignment := lesson.assignment) is not None:
                        items.append((m, lid, "assignment", assignment.id, lid,
                                      assignment.position, assignment.title_json,
                                      assignment.due_ms))  # fmt: skip
            for offset, item in enumerate(items):
                module_id, lesson_id, kind, item_id, parent, position, title, due = item
                published = t + offset * 250
                value = wire.content_published(
                    course.id, module_id, lesson_id, kind, item_id, parent, position, title, due,
                    published,
                )  # fmt: skip
                self._emit(published, T_CONTENT, key, value)
                # Some items get a new title later (questions are not republished).
                if kind != "question" and rng.random() < 0.08:
                    later = published + int(rng.random() * (end - published))
                    if later > published:
                        new_title = wire.quote(wire_title(title) + " (updated)")
                        value = wire.content_published(
                            course.id, module_id, lesson_id, kind, item_id, parent, position,
                            new_title, due, later,
                        )  # fmt: skip
                        self._emit(later, T_CONTENT, key, value)

    # --- a user's day -----------------------------------------------------------------------------

    def _user_day(self, user: User, start: int, end: int) -> None:
        rng = self.rng
        created = user.created_ms
        if created >= end:
            return
        starts: list[int] = []
        if user.sessions == 0 and created >= start:
            starts.append(created)
        weekday = (start // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday
        chance = user.daily_activity * (0.6 if weekday >= 5 else 1.0)
        if (created < start or user.sessions > 0 or starts) and rng.random() < chance:
            for _ in range(1 + (rng.random() < 0.3) + (rng.random() < 0.1)):
                hour = (user.preferred_hour + rng.gauss(0.0, 2.5)) % 24
                offset = int(hour * HOUR_MS - start % DAY_MS) % DAY_MS
                starts.append(start + offset)
        starts.sort()
        for begin in starts:
            if begin < created:
                continue
            begin = max(begin, user.busy_until)
            if begin >= end:
                break
            self._session(user, begin)

    def _open_session(self, user_id: str, key: bytes | None, base_url: str, device: Device) -> None:
        self._user_id, self._key, self._base_url = user_id, key, base_url
        self._meta = device.metadata_json
        self._out, self._later, self._pages = [], [], []

    def _close_session(self) -> bool:
        """Write the session's page views; keep the session if all of it happened by the end."""
        self._write_pages()
        out = self._out
        kept = not out or max(item[0] for item in out) <= self.world.end_ms
        if kept:
            self._pending.extend(out)
            self._pending.extend(self._later)
        self._out = self._pending
        return kept

    def _session(self, user: User, begin: int) -> None:
        rng = self.rng
        first = user.sessions == 0
        user.sessions += 1
        self._user = user
        self.t = begin
        devices = user.devices
        device = devices[0] if len(devices) == 1 or rng.random() < 0.75 else devices[1]
        self._open_session(user.id, user.key, user.base_url, device)

        if not first and rng.random() < 0.01:  # a script logs in through the API: no pages
            browser, os_name, agent = API_CLIENT
            api = device_from("bot", browser, os_name, agent, device.ip)
            self._emit(self.t, T_LOGGED_IN, user.key,
                       wire.user_logged_in(user.id, user.email_json, device.ip,
                                           api.user_agent_json, self.t))  # fmt: skip
            self._close_session()
            user.busy_until = self.t + SESSION_GAP_MS
            return

        self._session_id = "" if rng.random() < 0.05 else new_id(rng)  # old app: no SessionID
        if first:  # the account exists from the first moment: no anonymous page views
            org = user.organization
            self._emit(self.t, T_USER_CREATED, user.key,
                       wire.user_created(user.id, user.email_json, user.first_name_json,
                                         user.last_name_json, self.t,
                                         org.id if org is not None else None))  # fmt: skip
            self.t += 200 + int(rng.random() * 800)
        self._entry()
        if first:
            self._page("/welcome", TITLE_WELCOME)
            self._wait(20, 90)
            self._login(device)
        elif rng.random() < 0.55:
            self._page("/login", TITLE_SIGN_IN)
            self._wait(4, 30)
            self._login(device)
        self._page("/dashboard", TITLE_DASHBOARD)
        self._wait(4, 40)

        actions = 1 + min(int(rng.expovariate(1 / 1.6)), 7)
        for _ in range(actions):
            self._action(user)
        self._close_session()
        user.busy_until = self.t + SESSION_GAP_MS + int(rng.random() * 3 * HOUR_MS)

    def _entry(self) -> None:
        """Where the session came from: UTM parameters and referrer of the entry page."""
        rng = self.rng
        x = rng.random()
        self._entry_query, self._entry_referrer = "", ""
        if x < 0.2:
            source, medium, campaign, referrer = rng.choice(CAMPAIGNS)
            self._entry_query = f"?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"
            self._entry_referrer = referrer
        elif x < 0.35:
            self._entry_referrer = rng.choice(SEARCH_ENGINES)
        else:
            return
        course = self._pick_published_course()
        if course is not None:  # the ad or search result points at a course page
            self._page(course.path, course.title_json)
            self._activity("page_view", "course", course.id, "view", self._wait(15, 120))

    def _login(self, device: Device) -> None:
        user = self._user
        assert user is not None
        self._emit(self.t, T_LOGGED_IN, user.key,
                   wire.user_logged_in(user.id, user.email_json, device.ip,
                                       device.user_agent_json, self.t))  # fmt: skip
        if self.rng.random() < 0.5:
            self._activity("login", "", "", "", 0)

    # --- pages and activities ---------------------------------------------------------------------

    def _page(self, path: str, title_json: str, query: str = "") -> None:
        pages = self._pages
        if pages:
            url = self._base_url + path + query
            referrer = pages[-1][2]
        else:
            url = self._base_url + path + (query or self._entry_query)
            referrer = self._entry_referrer
        pages.append((self.t, next(self._seq), url, path, title_json, referrer))
        self.t += 1 + int(self.rng.random() * 900)  # the page's own events come a moment later

    def _write_pages(self) -> None:
        pages, rng, out = self._pages, self.rng, self._out
        last = len(pages) - 1
        user_id, session_id, meta, key = self._user_id, self._session_id, self._meta, self._key
        for i, (ts, seq, url, path, title, referrer) in enumerate(pages):
            if i < last:
                # The browser measures the time to the next page; now and then it fails to.
                on_page = 0 if rng.random() < 0.03 else (pages[i + 1][0] - ts) // 1000
            else:
                on_page = 0 if rng.random() < 0.4 else int(rng.random() * 180)
            value = wire.page_view(
                new_id(rng), user_id, session_id, url, path, title, referrer, on_page, i == 0,
                i == last, meta, ts,
            )  # fmt: skip
            out.append((ts, seq, T_PAGE, key, value, self._headers(T_PAGE)))

    def _activity(
        self, activity_type: str, resource_type: str, resource_id: str, action: str, duration: int
    ) -> None:
        value = wire.user_activity(
            new_id(self.rng), self._user_id, activity_type, resource_type, resource_id, action,
            duration, self._meta, self.t,
        )  # fmt: skip
        self._emit(self.t, T_ACTIVITY, self._key, value)
        self.t += 1 + int(self.rng.random() * 400)

    # --- what a learner does --------------------------------------------------------------------

    def _action(self, user: User) -> None:
        rng = self.rng
        if user.reviews_owed and rng.random() < 0.4:
            course = user.reviews_owed.pop(0)
            self._review(user.enrolments[course.id], again=True)
            return
        active = [e for e in user.enrolments.values() if e.status == "active"]
        x = rng.random()
        if not active or x < 0.12:
            self._browse(user, active)
        elif x < 0.2:
            self._forum(rng.choice(active))
        elif x < 0.25:
            term = rng.choice(SEARCH_TERMS)
            self._page("/search", TITLE_SEARCH, "?q=" + term.replace(" ", "+"))
            self._activity("search", "", "", "submit", self._wait(2, 20))
        elif x < 0.27:
            self._page("/account", TITLE_ACCOUNT)
            self._wait(10, 90)
        else:
            self._learn(rng.choice(active))

    def _pick_published_course(self) -> Course | None:
        """A course live for at least 10 minutes, the popular ones more often."""
        live = bisect_right(self._published_at, self.t - 10 * MINUTE_MS)
        if not live:
            return None
        cumulative = self._popularity
        return self._published[
            bisect_right(cumulative, self.rng.random() * cumulative[live - 1], 0, live - 1)
        ]

    def _browse(self, user: User, active: list[Enrolment]) -> None:
        rng = self.rng
        self._page("/courses", TITLE_CATALOG)
        self._wait(5, 60)
        seen: list[Course] = []
        for _ in range(1 + (rng.random() < 0.5) + (rng.random() < 0.2)):
            course = self._pick_published_course()
            if course is None:
                return
            self._page(course.path, course.title_json)
            self._activity("page_view", "course", course.id, "view", self._wait(10, 150))
            seen.append(course)
        if len(active) >= user.max_active_courses:
            return
        candidates = [
            c for c in seen if (e := user.enrolments.get(c.id)) is None or e.status == "dropped"
        ]
        if candidates and rng.random() < (0.85 if not active else 0.45):
            self._enrol(user, candidates[-1])

    def _enrol(self, user: User, course: Course) -> None:
        rng = self.rng
        previous = user.enrolments.get(course.id)
        if previous is not None and not previous.unenrolled:
            previous.status = "active"  # never left officially: just picks it up again
            return
        paid = previous is not None and previous.paid
        if course.tier and not paid:
            self._page(course.path + "/checkout", TITLE_CHECKOUT)
            self._wait(20, 150)
            if rng.random() < 0.15:
                return  # abandoned checkout
            amount = LOCAL_PRICES[user.currency][course.tier]
            if rng.random() < 0.15:  # a coupon
                amount = round(amount * 0.8, 0 if amount >= 1000 else 2)
            self._emit(self.t, T_PAYMENT, user.key,
                       wire.payment_completed(new_id(rng), user.id, course.id, amount,
                                              user.currency, self.t))  # fmt: skip
            paid = True
            self._wait(1, 5)
        enrolment = Enrolment(new_id(rng), course, paid=paid)
        if previous is not None:  # back after unenrolling: progress is kept
            enrolment.next_lesson = previous.next_lesson
            enrolment.reviewed = previous.reviewed
        user.enrolments[course.id] = enrolment
        self._emit(self.t, T_ENROLLED, user.key,
                   wire.user_enrolled(enrolment.id, course.id, user.id, self.t))  # fmt: skip
        self._page(course.path + "/welcome", course.title_json)
        self._wait(5, 40)

    def _learn(self, enrolment: Enrolment) -> None:
        rng = self.rng
        if enrolment.quiz_retry is not None:
            self._quiz(enrolment, enrolment.quiz_retry)
            return
        if enrolment.assignment_due is not None:
            self._submit(enrolment, enrolment.assignment_due)
            return
        course = enrolment.course
        lessons = course.lessons
        if enrolment.next_lesson >= len(lessons):
            self._complete(enrolment)
            return
        if enrolment.next_lesson > 0 and rng.random() < 0.05:
            earlier = lessons[int(rng.random() * enrolment.next_lesson)]
            if earlier.video is not None:  # back to an earlier video
                self._page(earlier.path, earlier.title_json)
                self._watch(enrolment, earlier)
                return
        if not enrolment.reviewed and enrolment.next_lesson >= 3 and rng.random() < 0.015:
            self._review(enrolment)
        self._lesson(enrolment, lessons[enrolment.next_lesson])

    def _lesson(self, enrolment: Enrolment, lesson: Lesson) -> None:
        rng, user = self.rng, self._user
        assert user is not None
        module = lesson.module
        fresh = enrolment.percent == 0
        if fresh:
            if rng.random() < user.drop_hazard:
                self._drop(enrolment)
                return
            if lesson.first_in_module:
                self._page(module.path, module.title_json)
                self._activity("page_view", "module", module.id, "view", self._wait(5, 40))
        self._page(lesson.path, lesson.title_json)
        self._activity("page_view", "lesson", lesson.id, "view", 0)
        begin = self.t
        if fresh:
            self._activity("content_interaction", "lesson", lesson.id, "start", 0)
        remaining = lesson.minutes * 60 * user.pace * (100 - enrolment.percent) / 100
        remaining *= 0.7 + rng.random() * 0.6
        if lesson.video is not None and rng.random() < 0.9:
            self._sit(remaining * 0.2)
            self._watch(enrolment, lesson)
            self._page(lesson.path, lesson.title_json)
            remaining *= 0.8
        if rng.random() < 0.18:  # stops half-way, comes back another time
            self._sit(remaining * 0.4)
            enrolment.percent += max(5, int((100 - enrolment.percent) * rng.uniform(0.2, 0.8)))
            enrolment.percent = min(enrolment.percent, 95)
            self._progress(enrolment, lesson, float(enrolment.percent))
            return
        if fresh and rng.random() < 0.4:
            self._sit(remaining * 0.5)
            self._progress(enrolment, lesson, float(rng.randrange(30, 75, 5)))
            self._sit(remaining * 0.5)
        else:
            self._sit(remaining)
        self._progress(enrolment, lesson, 100.0)
        self._activity(
            "content_interaction", "lesson", lesson.id, "complete", (self.t - begin) // 1000
        )
        enrolment.percent = 0
        enrolment.next_lesson += 1
        if lesson.quiz is not None:
            if rng.random() < 0.8:
                self._quiz(enrolment, lesson)
            else:
                enrolment.quiz_retry = lesson  # later
        if lesson.assignment is not None:
            assignment = lesson.assignment
            self._page(f"{module.path}/assignments/{assignment.id}", assignment.title_json)
            self._activity("content_interaction", "assignment", assignment.id, "view",
                           self._wait(20, 200))  # fmt: skip
            enrolment.assignment_due = lesson
            if rng.random() < 0.35:
                self._submit(enrolment, lesson)

    def _progress(self, enrolment: Enrolment, lesson: Lesson, percent: float) -> None:
        user = self._user
        assert user is not None
        self._emit(self.t, T_PROGRESS, user.key,
                   wire.progress_updated(user.id, enrolment.course.id, lesson.module.id,
                                         lesson.id, percent, self.t))  # fmt: skip
        self.t += 1000 + int(self.rng.random() * 2000)

    def _watch(self, enrolment: Enrolment, lesson: Lesson) -> None:
        rng, user, video = self.rng, self._user, lesson.video
        assert user is not None and video is not None
        self._page(f"{lesson.path}/videos/{video.id}", video.title_json)
        rate = user.playback_rate if rng.random() < 0.85 else 1.0
        self._activity("video", "video", video.id, "start", 0)
        completed = rng.random() < 0.72
        watched = video.duration_s if completed else int(video.duration_s * rng.uniform(0.05, 0.85))
        self._sit(watched / rate)
        self._emit(self.t, T_VIDEO, user.key,
                   wire.video_watched(user.id, enrolment.course.id, lesson.id, video.id, watched,
                                      rate, completed, self.t))  # fmt: skip
        self.t += 500 + int(rng.random() * 1500)
        if completed:
            self._activity("video", "video", video.id, "complete", watched)

    def _quiz(self, enrolment: Enrolment, lesson: Lesson) -> None:
        rng, user, quiz = self.rng, self._user, lesson.quiz
        assert user is not None and quiz is not None
        course_id = enrolment.course.id
        self._page(f"{lesson.module.path}/quizzes/{quiz.id}", quiz.title_json)
        self._activity("content_interaction", "quiz", quiz.id, "start", 0)
        started = self.t
        enrolment.quiz_attempts += 1
        legacy = rng.random() < 0.03  # an old quiz engine: no attempt id, no answers
        attempt_id = None if legacy else new_id(rng)
        boost = 0.9 + 0.35 * (enrolment.quiz_attempts - 1)
        correct = 0
        for question in quiz.questions:
            if rng.random() < 0.04:
                outcome, spent = "skipped", 2 + int(rng.random() * 12)
            else:
                chance = 1 / (1 + math.exp(question.difficulty - user.ability - boost))
                outcome = "correct" if rng.random() < chance else "incorrect"
                correct += outcome == "correct"
                spent = int((8 + 25 * math.exp(question.difficulty / 2)) * user.pace
                            * (0.5 + rng.random()))  # fmt: skip
                spent = min(spent, 150)
            self.t += spent * 1000 + int(rng.random() * 1000)
            if attempt_id is not None:
                self._emit(self.t, T_ANSWER, user.key,
                           wire.question_answered(user.id, course_id, quiz.id, question.id,
                                                  attempt_id, outcome, spent, self.t))  # fmt: skip
        self._wait(2, 8)
        score = round(100 * correct / len(quiz.questions), 2)
        passed = score >= quiz.pass_mark
        known_start = None if legacy or rng.random() < 0.05 else started
        self._emit(self.t, T_QUIZ, user.key,
                   wire.quiz_completed(user.id, course_id, quiz.id, score, passed, self.t,
                                       attempt_id, known_start))  # fmt: skip
        self._activity("content_interaction", "quiz", quiz.id, "complete",
                       (self.t - started) // 1000)  # fmt: skip
        self._page(f"{lesson.module.path}/quizzes/{quiz.id}/results", TITLE_RESULTS)
        self._wait(5, 60)
        if not passed and enrolment.quiz_attempts < 3 and rng.random() < 0.65:
            enrolment.quiz_retry = lesson
        else:
            enrolment.quiz_retry = None
            enrolment.quiz_attempts = 0

    def _submit(self, enrolment: Enrolment, lesson: Lesson) -> None:
        rng, user, assignment = self.rng, self._user, lesson.assignment
        assert user is not None and assignment is not None
        course_id = enrolment.course.id
        self._page(f"{lesson.module.path}/assignments/{assignment.id}", assignment.title_json)
        self._activity("content_interaction", "assignment", assignment.id, "start", 0)
        work = self._sit(rng.uniform(5, 40) * 60 * user.pace)
        self._emit(self.t, T_SUBMITTED, user.key,
                   wire.assignment_submitted(user.id, course_id, assignment.id,
                                             self.t))  # fmt: skip
        self._activity("content_interaction", "assignment", assignment.id, "submit", work)
        late = self.t > assignment.due_ms
        score = 72 + 9 * user.ability - (12 if late else 0) + rng.gauss(0, 10)
        score = round(_clamp(score, 0.0, 100.0), 1)
        graded = self.t + int(rng.uniform(4, 96) * HOUR_MS)
        self._schedule(graded, T_GRADED, user.key,
                       wire.assignment_graded(user.id, course_id, assignment.id, score,
                                              graded))  # fmt: skip
        if rng.random() < 0.1:  # a regrade after the learner asked
            regraded = graded + int(rng.uniform(12, 120) * HOUR_MS)
            score = round(_clamp(score + rng.gauss(6, 6), 0.0, 100.0), 1)
            self._schedule(regraded, T_GRADED, user.key,
                           wire.assignment_graded(user.id, course_id, assignment.id, score,
                                                  regraded))  # fmt: skip
        enrolment.assignment_due = None

    def _complete(self, enrolment: Enrolment) -> None:
        user, course = self._user, enrolment.course
        assert user is not None
        self._emit(self.t, T_COMPLETED, user.key,
                   wire.course_completed(user.id, course.id, self.t))  # fmt: skip
        self._activity("content_interaction", "course", course.id, "complete", 0)
        enrolment.status = "completed"
        self._page(course.path + "/certificate", TITLE_CERTIFICATE)
        self._wait(10, 60)
        if not enrolment.reviewed and self.rng.random() < 0.45:
            self._review(enrolment)

    def _review(self, enrolment: Enrolment, again: bool = False) -> None:
        rng, user, course = self.rng, self._user, enrolment.course
        assert user is not None
        self._page(course.path + "/reviews/new", TITLE_REVIEW)
        self._wait(30, 240)
        mood = 0.3 if enrolment.status == "completed" else -0.3
        rating = int(_clamp(round(rng.gauss(course.quality + mood, 0.9)), 1, 5))
        self._emit(self.t, T_REVIEW, user.key,
                   wire.course_reviewed(new_id(rng), user.id, course.id, rating,
                                        self.t))  # fmt: skip
        enrolment.reviewed = True
        if not again and rng.random() < 0.12:
            user.reviews_owed.append(course)  # will change their mind later

    def _drop(self, enrolment: Enrolment) -> None:
        user, course = self._user, enrolment.course
        assert user is not None
        enrolment.status = "dropped"
        enrolment.quiz_retry = enrolment.assignment_due = None
        if self.rng.random() < 0.45:  # the others just stop coming
            self._page(course.path + "/settings", TITLE_COURSE_SETTINGS)
            self._wait(5, 30)
            self._emit(self.t, T_UNENROLLED, user.key,
                       wire.user_unenrolled(enrolment.id, course.id, user.id,
                                            self.t))  # fmt: skip
            enrolment.unenrolled = True

    def _forum(self, enrolment: Enrolment) -> None:
        rng, course = self.rng, enrolment.course
        self._page(course.path + "/forum", TITLE_FORUM)
        self._activity("page_view", "forum", course.forum_id, "view", self._wait(10, 120))
        x = rng.random()
        if x < 0.35:
            self._page(course.path + "/forum/new", TITLE_NEW_THREAD)
            self._activity("forum_post", "forum", course.forum_id, "post", self._wait(60, 600))
        elif x < 0.8:
            self._activity("comment", "forum", course.forum_id, "post", self._wait(15, 240))

    # --- crawlers ---------------------------------------------------------------------------------

    def _crawlers(self, start: int, end: int) -> None:
        rng = self.rng
        visits = max(1, len(self.world.users) // 150)
        for _ in range(visits):
            device = rng.choice(self._bot_devices)
            self.t = start + int(rng.random() * (end - start))
            self._open_session("", None, PLATFORM_URL, device)
            self._session_id = new_id(rng)
            self._entry_query = self._entry_referrer = ""
            self._page("/", TITLE_HOME)
            for _ in range(rng.randint(2, 10)):
                self._wait(1, 15)
                course = self._pick_published_course()
                if course is None:
                    self._page("/courses", TITLE_CATALOG)
                else:
                    self._page(course.path, course.title_json)
            self._close_session()


def wire_title(title_json: str) -> str:
    """The plain text of a JSON-quoted title."""
    return json.loads(title_json)
