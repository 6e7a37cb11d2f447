"""The simulated world: organisations, users with their devices, courses with their structure.

Everything is drawn from one `random.Random`, so a seed gives the same world every time. Ids
look like UUIDs but come from the generator's bits (never `uuid4`). Free text is stored already
JSON-quoted (`*_json`) because the encoders in `wire.py` insert it verbatim.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from dataclasses import dataclass, field

from ingestion.simulator import wire

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

PLATFORM_DOMAIN = "learnhub.example"
PLATFORM_URL = f"https://www.{PLATFORM_DOMAIN}"


def new_id(rng: random.Random) -> str:
    """A UUID-shaped id made of the generator's bits."""
    h = rng.getrandbits(128).to_bytes(16, "big").hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


# --- reference data -------------------------------------------------------------------------

# country -> (currency, weight, IPv4 first octets)
COUNTRIES: dict[str, tuple[str, float, tuple[int, ...]]] = {
    "US": ("USD", 30, (24, 73, 98, 174)),
    "GB": ("GBP", 10, (81, 86, 92)),
    "DE": ("EUR", 9, (84, 91, 93)),
    "FR": ("EUR", 6, (90, 109)),
    "ES": ("EUR", 4, (83, 88)),
    "IN": ("INR", 14, (49, 117, 122)),
    "BR": ("BRL", 9, (177, 179, 189)),
    "CA": ("CAD", 6, (99, 142)),
    "AU": ("AUD", 5, (1, 110, 124)),
    "JP": ("JPY", 4, (126, 133)),
}
CURRENCIES = sorted({currency for currency, _, _ in COUNTRIES.values()})

# Course price tiers in USD and the local list price of each tier (psychological pricing).
PRICE_TIERS_USD = (0, 19, 49, 99, 199)
LOCAL_PRICES: dict[str, tuple[float, ...]] = {
    "USD": (0.0, 19.0, 49.0, 99.0, 199.0),
    "EUR": (0.0, 17.99, 44.99, 89.99, 179.99),
    "GBP": (0.0, 15.99, 39.99, 79.99, 159.99),
    "INR": (0.0, 1499.0, 3999.0, 7999.0, 15999.0),
    "BRL": (0.0, 99.9, 249.9, 499.9, 999.9),
    "CAD": (0.0, 25.99, 64.99, 129.99, 259.99),
    "AUD": (0.0, 28.99, 74.99, 149.99, 299.99),
    "JPY": (0.0, 2900.0, 7400.0, 14800.0, 29800.0),
}

FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Tim", "Barbara", "Dennis", "Frances", "Ken",
    "Sofia", "Mateo", "Chloé", "Lukas", "Zoë", "Aarav", "Priya", "Ananya", "Rohan", "João",
    "Beatriz", "Lucas", "Camila", "Hiroshi", "Yuki", "Sakura", "Oliver", "Amelia", "Noah",
    "Emma", "Liam", "Olivia", "Jürgen", "Anaïs", "Søren", "Ingrid", "Fatima", "Omar", "Leila",
    "Wei", "Mei", "Chen", "Isabella", "Diego", "Valentina", "Kwame", "Amara", "Nia", "Ethan",
    "Maya",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Berners-Lee", "Liskov", "Ritchie",
    "Allen", "Thompson", "García", "Müller", "Dubois", "Schmidt", "Rossi", "Sharma", "Patel",
    "Gupta", "Singh", "Silva", "Santos", "Oliveira", "Tanaka", "Suzuki", "Sato", "Smith",
    "Johnson", "Brown", "Williams", "Jones", "O'Brien", "Nguyen", "Kim", "Park", "Novák",
    "Kowalski", "Jensen", "Haddad", "Okafor", "Mensah", "Zhang", "Wang", "Li", "Fernández",
    "López", "Martin", "Bernard", "Weber", "Wagner", "Costa",
)  # fmt: skip
FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com")

ORG_NAMES = (
    "Northwind Academy", "Riverside High School", "Contoso University", "Fabrikam Corp",
    "Globex Learning", "Initech Training", "Umbrella Institute", "Acme Corporate Learning",
    "Hooli Academy", "Vandelay Industries", "Tyrell Institute", "Wonka Skills Lab",
    "Soylent Learning", "Cyberdyne College", "Massive Dynamic", "Blue Sun Academy",
)  # fmt: skip

COURSE_TITLES = (
    "Python for Data Analysis", "Introduction to Machine Learning", "SQL Fundamentals",
    "Project Management Essentials", "Digital Marketing 101", "Financial Accounting Basics",
    "Spanish for Beginners", "UX Design Principles", "Cloud Computing with AWS",
    "Statistics for Everyone", "Public Speaking Mastery", "Creative Writing Workshop",
    "Cybersecurity Foundations", "Leadership & Team Building", "Excel for Business",
    "Introduction to Psychology", "Photography Basics", "Web Development with JavaScript",
    "Nutrition and Health", "Agile and Scrum", "Data Visualization with Tableau",
    "Negotiation Skills", "Climate Science Explained", "Écriture créative en français",
    "Kubernetes in Practice", "Ethics in AI", "Time Management", "Intro to Economics",
    "Customer Success Fundamentals", "Graphic Design with Figma",
)  # fmt: skip
MODULE_TITLES = (
    "Getting Started", "Core Concepts", "Hands-on Practice", "Going Further",
    "Real-World Projects", "Advanced Topics", "Case Studies", "Review and Next Steps",
)  # fmt: skip
LESSON_TITLES = (
    "Overview", "Key Terms", "Worked Example", "Common Pitfalls", "Guided Exercise",
    "Deep Dive", "Best Practices", "Summary", "Q&A Session", "Toolkit Tour",
)  # fmt: skip
SEARCH_TERMS = (
    "python", "sql joins", "certificate", "excel pivot", "machine learning", "deadline",
    "spanish", "quiz answers", "agile", "design", "refund", "statistics", "aws", "forum",
)  # fmt: skip

# (device type, browser, operating system, user agent, weight)
DEVICE_PROFILES: dict[str, tuple[tuple[str, str, str, float], ...]] = {
    "desktop": (
        ("Chrome", "Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
         "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 40),
        ("Edge", "Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
         "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86", 12),
        ("Firefox", "Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) "
         "Gecko/20100101 Firefox/133.0", 8),
        ("Safari", "Mac OS X", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
         "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", 15),
        ("Chrome", "Mac OS X", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
         "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 15),
        ("Chrome", "Linux", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
         "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 5),
        ("Chrome", "Chrome OS", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 "
         "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 5),
    ),
    "mobile": (
        ("Mobile Safari", "iOS", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) "
         "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", 45),
        ("Chrome Mobile", "Android", "Mozilla/5.0 (Linux; Android 14; Pixel 8) "
         "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36", 40),
        ("Samsung Internet", "Android", "Mozilla/5.0 (Linux; Android 14; SM-S921B) "
         "AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 "
         "Mobile Safari/537.36", 15),
    ),
    "tablet": (
        ("Mobile Safari", "iOS", "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) "
         "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", 65),
        ("Chrome", "Android", "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 "
         "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 35),
    ),
    "bot": (
        ("Googlebot", "Other", "Mozilla/5.0 (compatible; Googlebot/2.1; "
         "+http://www.google.com/bot.html)", 50),
        ("bingbot", "Other", "Mozilla/5.0 (compatible; bingbot/2.0; "
         "+http://www.bing.com/bingbot.htm)", 30),
        ("AhrefsBot", "Other", "Mozilla/5.0 (compatible; AhrefsBot/7.0; "
         "+http://ahrefs.com/robot/)", 20),
    ),
}  # fmt: skip
# What a user's scripted login (an LMS integration, a sync job) looks like.
API_CLIENT = ("Python Requests", "Other", "python-requests/2.32.3")


# --- the world ------------------------------------------------------------------------------


@dataclass(slots=True)
class Device:
    device_type: str
    user_agent_json: str
    ip: str
    metadata_json: str  # the ClientMetadata object, JSON


@dataclass(slots=True)
class Organization:
    id: str
    name: str
    slug: str
    country: str
    email_domain: str
    base_url: str


@dataclass(slots=True)
class User:
    id: str
    key: bytes
    first_name_json: str
    last_name_json: str
    email_json: str
    organization: Organization | None
    country: str
    currency: str
    base_url: str
    created_ms: int
    devices: list[Device]
    # behaviour
    daily_activity: float  # probability of using the LMS on a given day
    preferred_hour: float  # UTC hour around which sessions start
    ability: float  # quiz skill, standard normal
    drop_hazard: float  # probability of giving up a course at each new lesson
    pace: float  # multiplier on reading and working times
    playback_rate: float
    max_active_courses: int
    # state while traffic is generated
    busy_until: int = 0
    sessions: int = 0
    enrolments: dict[str, Enrolment] = field(default_factory=dict)
    reviews_owed: list[Course] = field(default_factory=list)


@dataclass(slots=True)
class Question:
    id: str
    position: int
    difficulty: float
    title_json: str


@dataclass(slots=True)
class Quiz:
    id: str
    position: int
    title_json: str
    pass_mark: float
    questions: list[Question]


@dataclass(slots=True)
class Assignment:
    id: str
    position: int
    title_json: str
    due_ms: int


@dataclass(slots=True)
class Video:
    id: str
    position: int
    title_json: str
    duration_s: int


@dataclass(slots=True)
class Lesson:
    id: str
    module: Module
    position: int
    title_json: str
    path: str
    minutes: float
    video: Video | None = None
    quiz: Quiz | None = None
    assignment: Assignment | None = None
    first_in_module: bool = False


@dataclass(slots=True)
class Module:
    id: str
    position: int
    title_json: str
    path: str
    lessons: list[Lesson] = field(default_factory=list)


@dataclass(slots=True)
class Course:
    id: str
    title_json: str
    slug: str
    path: str
    tier: int  # index into PRICE_TIERS_USD
    quality: float  # mean star rating learners give it
    popularity: float
    published_ms: int
    forum_id: str
    modules: list[Module] = field(default_factory=list)
    lessons: list[Lesson] = field(default_factory=list)  # in learning order

    @property
    def price_usd(self) -> int:
        return PRICE_TIERS_USD[self.tier]


@dataclass(slots=True)
class Enrolment:
    id: str
    course: Course
    status: str = "active"  # active, dropped, completed
    next_lesson: int = 0
    percent: int = 0  # of the lesson in progress
    quiz_retry: Lesson | None = None  # the lesson whose quiz the learner will take again
    quiz_attempts: int = 0
    assignment_due: Lesson | None = None  # the lesson whose assignment is still to hand in
    paid: bool = False
    reviewed: bool = False
    unenrolled: bool = False


@dataclass(slots=True)
class World:
    organizations: list[Organization]
    users: list[User]
    courses: list[Course]
    start_ms: int
    end_ms: int


# --- building it ------------------------------------------------------------------------------


def _weighted(rng: random.Random, options: tuple, weights: tuple[float, ...]):
    return rng.choices(options, weights)[0]


def _ip(rng: random.Random, country: str, device_type: str) -> str:
    if device_type == "mobile" and rng.random() < 0.3:
        groups = ":".join(f"{rng.getrandbits(16):x}" for _ in range(4))
        return f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}:{groups}"
    first = rng.choice(COUNTRIES[country][2])
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def make_device(rng: random.Random, device_type: str, country: str) -> Device:
    profiles = DEVICE_PROFILES[device_type]
    browser, os_name, agent, _ = _weighted(rng, profiles, tuple(p[3] for p in profiles))
    return device_from(device_type, browser, os_name, agent, _ip(rng, country, device_type))


def device_from(device_type: str, browser: str, os_name: str, agent: str, ip: str) -> Device:
    return Device(
        device_type,
        wire.quote(agent),
        ip,
        wire.client_metadata(device_type, browser, os_name, agent, ip),
    )


def _organizations(rng: random.Random, count: int) -> list[Organization]:
    countries = tuple(COUNTRIES)
    weights = tuple(COUNTRIES[c][1] for c in countries)
    orgs = []
    for index in range(count):
        name = ORG_NAMES[index % len(ORG_NAMES)]
        if index >= len(ORG_NAMES):
            name = f"{name} {index // len(ORG_NAMES) + 1}"
        slug = slugify(name)
        suffix = ".edu.example" if any(w in name for w in ("School", "University")) else ".example"
        orgs.append(
            Organization(
                id=new_id(rng),
                name=name,
                slug=slug,
                country=_weighted(rng, countries, weights),
                email_domain=slug + suffix,
                base_url=f"https://{slug}.{PLATFORM_DOMAIN}",
            )
        )
    return orgs


def _users(
    rng: random.Random, count: int, orgs: list[Organization], start_ms: int, end_ms: int
) -> list[User]:
    countries = tuple(COUNTRIES)
    weights = tuple(COUNTRIES[c][1] for c in countries)
    window = end_ms - start_ms
    emails: set[str] = set()
    users = []
    for _ in range(count):
        org = rng.choice(orgs) if orgs and rng.random() < 0.93 else None
        if org is not None and rng.random() < 0.8:
            country = org.country
        else:
            country = _weighted(rng, countries, weights)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{slugify(first)}.{slugify(last)}".replace("-", "")
        domain = org.email_domain if org is not None else rng.choice(FREE_MAIL)
        email, n = f"{local}@{domain}", 1
        while email in emails:
            n += 1
            email = f"{local}{n}@{domain}"
        emails.add(email)
        # Half the users exist from the first days (a term starts), the rest sign up over time;
        # nobody signs up in the last hour, so everyone gets a first session.
        if rng.random() < 0.5:
            created = start_ms + int(rng.random() * min(3 * DAY_MS, window * 0.2))
        else:
            created = start_ms + int(rng.random() * max(window - 2 * HOUR_MS, HOUR_MS))
        primary = _weighted(rng, ("desktop", "mobile", "tablet"), (0.62, 0.3, 0.08))
        devices = [make_device(rng, primary, country)]
        if rng.random() < 0.45:
            second = "mobile" if primary != "mobile" else "desktop"
            devices.append(make_device(rng, second, country))
        users.append(
            User(
                id=(user_id := new_id(rng)),
                key=user_id.encode(),
                first_name_json=wire.quote(first),
                last_name_json=wire.quote(last),
                email_json=wire.quote(email),
                organization=org,
                country=country,
                currency=COUNTRIES[country][0],
                base_url=org.base_url if org is not None else PLATFORM_URL,
                created_ms=created,
                devices=devices,
                daily_activity=min(0.95, rng.betavariate(1.6, 2.4)),
                preferred_hour=rng.gauss(15.0, 4.0) % 24,
                ability=rng.gauss(0.0, 1.0),
                drop_hazard=min(0.25, rng.expovariate(1 / 0.035)),
                pace=math.exp(rng.gauss(0.0, 0.3)),
                playback_rate=_weighted(
                    rng, (1.0, 1.25, 1.5, 2.0, 0.75), (0.55, 0.15, 0.17, 0.09, 0.04)
                ),
                max_active_courses=_weighted(rng, (1, 2, 3), (0.5, 0.35, 0.15)),
            )
        )
    return users


def _courses(rng: random.Random, count: int, start_ms: int, end_ms: int) -> list[Course]:
    window = end_ms - start_ms
    courses = []
    for index in range(count):
        title = COURSE_TITLES[index % len(COURSE_TITLES)]
        if index >= len(COURSE_TITLES):
            title = f"{title} {index // len(COURSE_TITLES) + 1}"
        slug = slugify(title)
        # Most of the catalogue is live at the start; a few courses launch during the window.
        if rng.random() < 0.8 or index == 0:
            published = start_ms + int(rng.random() * min(6 * HOUR_MS, window * 0.05))
        else:
            published = start_ms + int(rng.random() * window * 0.6)
        course = Course(
            id=new_id(rng),
            title_json=wire.quote(title),
            slug=slug,
            path=f"/courses/{slug}",
            tier=_weighted(rng, (0, 1, 2, 3, 4), (0.35, 0.2, 0.25, 0.15, 0.05)),
            quality=min(4.9, max(2.2, rng.gauss(4.0, 0.55))),
            popularity=rng.paretovariate(1.5),
            published_ms=published,
            forum_id=new_id(rng),
        )
        difficulty = rng.gauss(0.0, 0.5)
        n_modules = rng.randint(3, 6)
        n_assignments = 0
        for m in range(1, n_modules + 1):
            module_title = f"Module {m}: {MODULE_TITLES[(m - 1) % len(MODULE_TITLES)]}"
            module = Module(new_id(rng), m, wire.quote(module_title), "")
            module.path = f"{course.path}/modules/{m}"
            for position in range(1, rng.randint(2, 5) + 1):
                name = rng.choice(LESSON_TITLES)
                lesson = Lesson(
                    id=new_id(rng),
                    module=module,
                    position=position,
                    title_json=wire.quote(f"Lesson {m}.{position} \u2013 {name}"),
                    path="",
                    minutes=rng.uniform(3.0, 14.0),
                    first_in_module=position == 1,
                )
                lesson.path = f"{module.path}/lessons/{lesson.id}"
                if rng.random() < 0.55:
                    lesson.video = Video(
                        new_id(rng), 1, wire.quote(f"Video: {name}"), rng.randint(120, 1200)
                    )
                module.lessons.append(lesson)
            if rng.random() < 0.75:  # a quiz closes the module, attached to its last lesson
                questions = [
                    Question(
                        new_id(rng), q, rng.gauss(difficulty, 1.0), wire.quote(f"Question {q}")
                    )
                    for q in range(1, rng.randint(4, 10) + 1)
                ]
                module.lessons[-1].quiz = Quiz(
                    new_id(rng),
                    2,
                    wire.quote(f"Module {m} Quiz: {module_title.split(': ', 1)[1]}"),
                    rng.choice((50.0, 60.0, 70.0, 80.0)),
                    questions,
                )
            if rng.random() < 0.4:
                n_assignments += 1
                lesson = rng.choice(module.lessons)
                lesson.assignment = Assignment(
                    new_id(rng), 3, wire.quote(f"Assignment {n_assignments}: {title}"), 0
                )
            course.modules.append(module)
            course.lessons.extend(module.lessons)
        for lesson in course.lessons:  # a lesson's items in order: video, quiz, assignment
            items = [lesson.video, lesson.quiz, lesson.assignment]
            for position, item in enumerate([i for i in items if i is not None], start=1):
                item.position = position
        # Fixed deadlines, later for later lessons: learners who start late or work slowly
        # hand in late.
        span = max(end_ms - published, DAY_MS)
        for index, lesson in enumerate(course.lessons, start=1):
            if lesson.assignment is not None:
                share = index / len(course.lessons)
                due = published + int(span * (0.25 + share) * rng.uniform(0.9, 1.2))
                # A DueAt after the end would be a future timestamp; deadlines fall on the hour.
                lesson.assignment.due_ms = min(due, end_ms - HOUR_MS) // HOUR_MS * HOUR_MS
        courses.append(course)
    return courses


def build_world(
    rng: random.Random, orgs: int, users: int, courses: int, start_ms: int, end_ms: int
) -> World:
    organizations = _organizations(rng, orgs)
    return World(
        organizations=organizations,
        users=_users(rng, users, organizations, start_ms, end_ms),
        courses=_courses(rng, courses, start_ms, end_ms),
        start_ms=start_ms,
        end_ms=end_ms,
    )
