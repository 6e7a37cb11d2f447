"""The tracking collector: HTTP in, Kafka out, against the session's real broker.

Each test gets its own topic prefix, so what it reads back from a topic (all partitions, from the
beginning, with assign()) is exactly what it produced.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ingestion.collector.app import create_app
from ingestion.collector.client_metadata import anonymize_ip, client_ip, parse_user_agent
from ingestion.events import Event, PageView, UserActivity
from lms_analytics.settings import Settings

WRITE_KEY = "test-write-key"
TRACK = f"/v1/track?write_key={WRITE_KEY}"
PEER = "198.51.100.23"
TRACKER_JS = Path(__file__).parents[2] / "ingestion" / "collector" / "static" / "tracker.js"

DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
IPAD_SAFARI = (
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def settings(local_stack: Settings) -> Settings:
    """The session stack's settings with a topic prefix of this test's own and a known key."""
    return local_stack.model_copy(
        update={
            "kafka_topic_prefix": f"collector-{uuid.uuid4().hex[:10]}.",
            "collector_write_keys": [WRITE_KEY, "second-key"],
        }
    )


@contextlib.contextmanager
def collector(settings: Settings, peer: str = PEER, **overrides: Any) -> Iterator[TestClient]:
    """The collector app in process (lifespan run: a real producer), seen from `peer`."""
    app = create_app(settings.model_copy(update=overrides) if overrides else settings)
    with TestClient(app, client=(peer, 50123)) as client:
        yield client


def read_topic(settings: Settings, model: type[Event], expected: int) -> list[tuple[Any, dict]]:
    """(key, value) of every message in the model's topic, waiting for `expected` of them and
    then a little longer, so that an unexpected extra message shows up too."""
    topic = settings.kafka_topic(model.topic)
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"collector-test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 50,
            "log_level": 0,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
        if not partitions or metadata.topics[topic].error is not None:
            return []
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        messages = []
        deadline = time.monotonic() + 15
        while len(messages) < expected and time.monotonic() < deadline:
            messages += [m for m in consumer.consume(100, timeout=0.2) if m.error() is None]
        settle = time.monotonic() + 0.3
        while time.monotonic() < settle:
            messages += [m for m in consumer.consume(100, timeout=0.1) if m.error() is None]
        return [(m.key().decode() if m.key() else None, json.loads(m.value())) for m in messages]
    finally:
        consumer.close()


def page_view(**fields: Any) -> dict[str, Any]:
    return {
        "type": "PageView",
        "ID": f"pv-{uuid.uuid4().hex[:12]}",
        "UserID": "u-1",
        "SessionID": "s-1",
        "URL": "https://lms.example/courses/c-1?utm_source=newsletter&utm_medium=email",
        "Title": "Course 1",
        "CreatedAt": "2026-11-20T10:00:00Z",
        **fields,
    }


def activity(**fields: Any) -> dict[str, Any]:
    return {
        "type": "UserActivity",
        "ID": f"ua-{uuid.uuid4().hex[:12]}",
        "UserID": "u-1",
        "ActivityType": "video",
        "ResourceType": "video",
        "ResourceID": "v-1",
        "Action": "start",
        "Duration": 30,
        "CreatedAt": "2026-11-20T10:01:00Z",
        **fields,
    }


# --- ClientMetadata ------------------------------------------------------------------------


def test_user_agent_classes_land_in_client_metadata_of_kafka_messages(settings: Settings) -> None:
    cases = {
        "desktop": (DESKTOP_CHROME, "Chrome", "Windows"),
        "mobile": (IPHONE_SAFARI, "Mobile Safari", "iOS"),
        "tablet": (IPAD_SAFARI, "Mobile Safari", "iOS"),
        "bot": (GOOGLEBOT, "Googlebot", ""),
    }
    ids = {}
    with collector(settings) as client:
        for device_type, (user_agent, _, _) in cases.items():
            event = page_view(UserID=f"u-{device_type}")
            ids[event["ID"]] = device_type
            response = client.post(TRACK, json=event, headers={"User-Agent": user_agent})
            assert response.status_code == 202, response.text
            assert response.json() == {"accepted": 1, "rejected": 0, "errors": []}

    messages = read_topic(settings, PageView, expected=4)
    assert len(messages) == 4
    for key, value in messages:
        device_type = ids[value["ID"]]
        user_agent, browser, operating_system = cases[device_type]
        assert key == f"u-{device_type}"
        assert value["ClientMetadata"] == {
            "DeviceType": device_type,
            "Browser": browser,
            "OperatingSystem": operating_system,
            "UserAgent": user_agent,
            "IPAddress": PEER,
        }


@pytest.mark.parametrize(
    ("user_agent", "device_type"),
    [
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Mobile Safari/537.36",
            "mobile",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            "tablet",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "desktop"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            "desktop",
        ),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot"),
        ("curl/8.5.0", "other"),
        ("", "other"),
    ],
)
def test_user_agent_device_type(user_agent: str, device_type: str) -> None:
    assert parse_user_agent(user_agent)[0] == device_type


def test_client_sent_client_metadata_is_replaced_by_the_requests(settings: Settings) -> None:
    forged = {"DeviceType": "desktop", "IPAddress": "192.0.2.1", "UserAgent": "forged"}
    with collector(settings) as client:
        response = client.post(
            TRACK,
            json=page_view(ClientMetadata=forged),
            headers={"User-Agent": IPHONE_SAFARI},
        )
    assert response.json()["accepted"] == 1
    [(_, value)] = read_topic(settings, PageView, expected=1)
    assert value["ClientMetadata"]["DeviceType"] == "mobile"
    assert value["ClientMetadata"]["IPAddress"] == PEER
    assert value["ClientMetadata"]["UserAgent"] == IPHONE_SAFARI


def test_trusted_proxy_header_is_honoured_only_when_configured(settings: Settings) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.50, 10.0.0.7", "User-Agent": DESKTOP_CHROME}
    untrusted, trusted = page_view(), page_view()
    with collector(settings) as client:
        assert client.post(TRACK, json=untrusted, headers=forwarded).status_code == 202
    with collector(settings, collector_trusted_proxy_header="X-Forwarded-For") as client:
        assert client.post(TRACK, json=trusted, headers=forwarded).status_code == 202

    ips = {
        value["ID"]: value["ClientMetadata"]["IPAddress"]
        for _, value in read_topic(settings, PageView, expected=2)
    }
    assert ips == {untrusted["ID"]: PEER, trusted["ID"]: "203.0.113.50"}


def test_ip_anonymisation_zeroes_ipv4_last_octet_and_ipv6_last_80_bits(
    settings: Settings,
) -> None:
    ipv4, ipv6, plain = page_view(), page_view(), page_view()
    with collector(settings, collector_anonymize_ip=True) as client:
        assert client.post(TRACK, json=ipv4).status_code == 202
    with collector(
        settings, peer="2001:db8:abcd:1234:5678:9abc:def0:1234", collector_anonymize_ip=True
    ) as client:
        assert client.post(TRACK, json=ipv6).status_code == 202
    with collector(settings) as client:
        assert client.post(TRACK, json=plain).status_code == 202

    ips = {
        value["ID"]: value["ClientMetadata"]["IPAddress"]
        for _, value in read_topic(settings, PageView, expected=3)
    }
    assert ips == {ipv4["ID"]: "198.51.100.0", ipv6["ID"]: "2001:db8:abcd::", plain["ID"]: PEER}


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        ("X-Forwarded-For", "203.0.113.9", "203.0.113.9"),
        ("X-Forwarded-For", " 203.0.113.9:4711 , 10.0.0.1", "203.0.113.9"),
        ("X-Forwarded-For", "2001:db8::7, 10.0.0.1", "2001:db8::7"),
        ("X-Real-IP", "::ffff:203.0.113.9", "203.0.113.9"),
        (
            "Forwarded",
            'for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.1',
            "2001:db8:cafe::17",
        ),
        ("Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
        ("X-Forwarded-For", "unknown", PEER),  # unusable: the peer stays
        ("X-Forwarded-For", "", PEER),
    ],
)
def test_trusted_proxy_header_forms(header: str, value: str, expected: str) -> None:
    assert client_ip(PEER, {header.lower(): value}, header) == expected


@given(st.ip_addresses(v=4))
def test_anonymised_ipv4_keeps_its_24_bit_prefix(address: Any) -> None:
    anonymised = anonymize_ip(str(address))
    assert anonymised.rsplit(".", 1) == [str(address).rsplit(".", 1)[0], "0"]


@given(st.ip_addresses(v=6))
def test_anonymised_ipv6_keeps_only_its_48_bit_prefix(address: Any) -> None:
    import ipaddress

    anonymised = ipaddress.ip_address(anonymize_ip(str(address)))
    if address.ipv4_mapped is None:
        assert int(anonymised) == int(address) >> 80 << 80
    else:  # an IPv4 client seen through an IPv6 socket: anonymised as IPv4
        assert anonymised == ipaddress.IPv4Address(int(address.ipv4_mapped) >> 8 << 8)


# --- the request's outcome -----------------------------------------------------------------


def test_write_key_is_required(settings: Settings) -> None:
    by_header, by_query = page_view(), page_view()
    with collector(settings) as client:
        for url, headers in [
            ("/v1/track", {}),
            ("/v1/track?write_key=wrong", {}),
            ("/v1/track", {"X-Write-Key": "wrong"}),
            ("/v1/track?write_key=", {}),
        ]:
            response = client.post(url, json=page_view(), headers=headers)
            assert response.status_code == 401
            assert "write key" in response.json()["error"]
        header = client.post("/v1/track", json=by_header, headers={"X-Write-Key": "second-key"})
        query = client.post(TRACK, json=by_query)
    assert (header.status_code, query.status_code) == (202, 202)
    ids = {value["ID"] for _, value in read_topic(settings, PageView, expected=2)}
    assert ids == {by_header["ID"], by_query["ID"]}


def test_body_over_the_limit_is_413_by_content_length_and_by_streamed_size(
    settings: Settings,
) -> None:
    big = json.dumps([page_view(Title="x" * 400) for _ in range(3)]).encode()
    assert len(big) > 1000
    small = page_view()

    def chunks() -> Iterator[bytes]:  # no Content-Length: only the streamed size tells
        for start in range(0, len(big), 100):
            yield big[start : start + 100]

    with collector(settings, collector_max_body_bytes=1000) as client:
        declared = client.post(TRACK, content=big)
        streamed = client.post(TRACK, content=chunks())
        lying = client.post(TRACK, content=big, headers={"Content-Length": "abc"})
        fits = client.post(TRACK, json=small)
    assert declared.status_code == 413
    assert "1000 bytes" in declared.json()["error"]
    assert streamed.status_code == 413
    assert streamed.json() == declared.json()
    assert lying.status_code == 400
    assert fits.status_code == 202
    assert [value["ID"] for _, value in read_topic(settings, PageView, expected=1)] == [small["ID"]]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"type": "PageView",', "not valid JSON"),
        (b"page view", "not valid JSON"),
        (b"", "empty body"),
        (b'"PageView"', "JSON string"),
        (b"42", "JSON number"),
        (b"null", "JSON null"),
        (b'{"type": "PageView", "TimeOnPage": NaN}', "NaN"),
        (b"\xff\xfe\x00garbage", "not"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_body_is_400(settings: Settings, body: bytes, reason: str) -> None:
    with collector(settings) as client:
        response = client.post(TRACK, content=body)
        assert response.status_code == 400
        assert reason in response.json()["error"]
        assert client.get("/healthz").status_code == 200  # the worker is fine


def test_batch_with_invalid_events_accepts_exactly_the_valid_ones(settings: Settings) -> None:
    now = datetime.now(UTC)
    valid_views = [page_view(), page_view(user_id="u-2", url="https://lms.example/a")]
    valid_activity = activity(ActivityType="forum_post", Action="post")
    batch = [
        valid_views[0],
        {**page_view(), "type": "Quiz"},  # 1: unknown type
        {k: v for k, v in page_view().items() if k != "URL"},  # 2: required field missing
        valid_activity,
        activity(Duration=-5),  # 4: impossible value
        page_view(CreatedAt=(now + timedelta(days=2)).isoformat()),  # 5: far future
        ["not", "an", "object"],  # 6
        valid_views[1],
        {k: v for k, v in activity().items() if k != "type"},  # 8: no type
        activity(Duration="30"),  # 9: wrong type (strict, as the consumer)
    ]
    with collector(settings) as client:
        response = client.post(TRACK, json=batch, headers={"User-Agent": DESKTOP_CHROME})
    assert response.status_code == 202
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (3, 7)
    errors = {error["index"]: error["error"] for error in answer["errors"]}
    assert sorted(errors) == [1, 2, 4, 5, 6, 8, 9]
    assert "unknown event type 'Quiz'" in errors[1]
    assert errors[2].startswith("PageView: URL") and "required" in errors[2]
    assert "Duration" in errors[4] and "greater than or equal to 0" in errors[4]
    assert "more than 1 day in the future" in errors[5]
    assert "JSON array" in errors[6]
    assert errors[8].startswith("type: missing")
    assert "Duration" in errors[9]

    views = read_topic(settings, PageView, expected=2)
    assert sorted(value["ID"] for _, value in views) == sorted(v["ID"] for v in valid_views)
    activities = read_topic(settings, UserActivity, expected=1)
    assert [(key, value["ID"]) for key, value in activities] == [("u-1", valid_activity["ID"])]
    assert activities[0][1]["ActivityType"] == "forum_post"


def test_server_fills_missing_id_created_at_and_path_and_keeps_the_clients(
    settings: Settings,
) -> None:
    bare = {"type": "PageView", "user_id": "u-9", "url": "https://lms.example/c/7?utm_source=x"}
    kept = page_view(Path="/given")
    with collector(settings) as client:
        before = datetime.now(UTC)
        assert client.post(TRACK, json=[bare, kept]).json()["accepted"] == 2
        after = datetime.now(UTC)
    values = {value["UserID"]: value for _, value in read_topic(settings, PageView, expected=2)}
    filled = values["u-9"]
    assert uuid.UUID(filled["ID"]).version == 4
    created = datetime.fromisoformat(filled["CreatedAt"])
    assert before - timedelta(milliseconds=1) <= created <= after
    assert filled["Path"] == "/c/7"
    assert filled["URL"] == bare["url"]
    same = values["u-1"]
    assert (same["ID"], same["CreatedAt"], same["Path"]) == (
        kept["ID"],
        "2026-11-20T10:00:00Z",
        "/given",
    )


def test_anonymous_page_view_has_no_message_key(settings: Settings) -> None:
    with collector(settings) as client:
        assert client.post(TRACK, json=page_view(UserID="")).json()["accepted"] == 1
    [(key, value)] = read_topic(settings, PageView, expected=1)
    assert key is None
    assert value["UserID"] == ""


def test_kafka_not_acknowledging_answers_503() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    unreachable = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{dead_port}", collector_write_keys=[WRITE_KEY]
    )
    app = create_app(unreachable, kafka_config={"message.timeout.ms": 800, "log_level": 0})
    with TestClient(app) as client:
        started = time.monotonic()
        response = client.post(TRACK, json=page_view())
        rejected_only = client.post(TRACK, json=[{"type": "Nope"}])
    assert response.status_code == 503
    assert "Kafka did not acknowledge 1 of 1 events" in response.json()["error"]
    assert time.monotonic() - started < 5
    assert rejected_only.status_code == 202  # nothing to deliver: no need for Kafka


def test_cors_preflight_answers_with_the_configured_origin(settings: Settings) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-write-key",
    }
    with collector(settings, collector_cors_origins=["https://lms.example"]) as client:
        allowed = client.options(
            "/v1/track", headers={"Origin": "https://lms.example", **preflight}
        )
        other = client.options("/v1/track", headers={"Origin": "https://evil.example", **preflight})
        simple = client.post(TRACK, json=page_view(), headers={"Origin": "https://lms.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://lms.example"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "x-write-key" in allowed.headers["access-control-allow-headers"].lower()
    assert other.status_code == 400
    assert other.json() == {"error": "CORS preflight refused: Disallowed CORS origin"}
    assert "access-control-allow-origin" not in other.headers
    assert simple.status_code == 202
    assert simple.headers["access-control-allow-origin"] == "https://lms.example"


def test_tracker_js_and_healthz_are_served(settings: Settings) -> None:
    with collector(settings) as client:
        tracker = client.get("/v1/tracker.js")
        health = client.get("/healthz")
        missing = client.get("/v1/nothing")
        wrong_method = client.get("/v1/track")
    assert tracker.status_code == 200
    assert tracker.headers["content-type"] == "text/javascript; charset=utf-8"
    assert tracker.content == TRACKER_JS.read_bytes()
    assert health.json() == {"status": "ok"}
    assert (missing.status_code, missing.json()) == (404, {"error": "Not Found"})
    assert (wrong_method.status_code, wrong_method.json()) == (405, {"error": "Method Not Allowed"})


# --- tracker.js, run by node against a fake page -------------------------------------------

NODE_HARNESS = r"""
const vm = require("vm"), fs = require("fs");
const [source, scenario] = [fs.readFileSync(process.argv[1], "utf8"), JSON.parse(process.argv[2])];
let now = scenario.start;
class FakeDate extends Date {
  constructor(...args) { if (args.length) super(...args); else super(now); }
  static now() { return now; }
}
const store = Object.assign({}, scenario.storage || {});
const sent = [], documentListeners = {}, windowListeners = {};
const on = (table) => (type, listener) => (table[type] = table[type] || []).push(listener);
const fire = (table, type, event) =>
  (table[type] || []).forEach((listener) => listener(event || {}));
const attributes = {"data-write-key": "key 1", "data-user-id": "u-42"};
const document = {
  currentScript: {
    src: "https://collector.example/v1/tracker.js",
    getAttribute: (n) => attributes[n] || null,
  },
  visibilityState: "visible", title: "Lesson 1", referrer: "https://search.example/q",
  addEventListener: on(documentListeners), querySelector: () => null,
};
const url = new URL(scenario.url);
const window = {
  location: {href: url.href, pathname: url.pathname},
  crypto: require("crypto").webcrypto,
  localStorage: {
    getItem: (k) => (k in store ? store[k] : null),
    setItem: (k, v) => { store[k] = String(v); },
    removeItem: (k) => { delete store[k]; },
  },
  addEventListener: on(windowListeners),
  fetch: (target, init) => {
    sent.push({via: "fetch", url: target, body: init.body, keepalive: init.keepalive});
    return Promise.resolve({json: () => ({})});
  },
};
const navigator = {
  sendBeacon: (target, body) => { sent.push({via: "beacon", url: target, body}); return true; },
};
vm.runInNewContext(source, {window, document, navigator, URL, Date: FakeDate, console});
for (const step of scenario.steps) {
  if (step.advance) now += step.advance;
  if (step.hide || step.show) {
    document.visibilityState = step.hide ? "hidden" : "visible";
    fire(documentListeners, "visibilitychange");
  }
  if (step.pagehide) fire(windowListeners, "pagehide", {persisted: false});
  if (step.track) window.lmsAnalytics.track(step.track);
}
process.stdout.write(JSON.stringify({sent, storage: store, now}));
"""


def run_tracker(steps: list[dict], start: int, storage: dict | None = None) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed, so tracker.js cannot run here")
    scenario = {
        "url": "https://lms.example/courses/c-1/lessons/l-2?utm_source=mail&utm_campaign=fall",
        "start": start,
        "storage": storage or {},
        "steps": steps,
    }
    result = subprocess.run(
        [node, "-e", NODE_HARNESS, str(TRACKER_JS), json.dumps(scenario)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(result.stdout)


def test_tracker_sends_a_page_view_on_hide_and_activities_the_collector_accepts(
    settings: Settings,
) -> None:
    start = int(datetime(2026, 11, 20, 9, 0, tzinfo=UTC).timestamp() * 1000)
    run = run_tracker(
        [
            {"advance": 12_000},
            {"track": {"ActivityType": "video", "ResourceID": "v-1", "Action": "start"}},
            {"advance": 3_000},
            {"hide": True},  # the page view is sent now: 15 s visible
            {"advance": 60_000},
            {"show": True},
            {"advance": 5_000},
            {"pagehide": True},  # already sent: not again
        ],
        start,
    )
    sent = run["sent"]
    assert [message["via"] for message in sent] == ["fetch", "beacon"]
    assert sent[0]["keepalive"] is True
    for message in sent:
        target = urlsplit(message["url"])
        assert (target.netloc, target.path) == ("collector.example", "/v1/track")
        assert parse_qs(target.query) == {"write_key": ["key 1"]}

    with collector(settings, collector_write_keys=["key 1"]) as client:
        for message in sent:
            target = urlsplit(message["url"])
            response = client.post(
                f"{target.path}?{target.query}",
                content=message["body"],
                headers={"Content-Type": "text/plain;charset=UTF-8"},
            )
            assert response.json() == {"accepted": 1, "rejected": 0, "errors": []}

    session_id = json.loads(run["storage"]["lmsAnalytics.session"])["id"]
    [(key, view)] = read_topic(settings, PageView, expected=1)
    assert key == "u-42"
    assert view["URL"].endswith("?utm_source=mail&utm_campaign=fall")
    assert view["Path"] == "/courses/c-1/lessons/l-2"
    assert (view["Title"], view["Referrer"]) == ("Lesson 1", "https://search.example/q")
    assert (view["TimeOnPage"], view["EntryPage"], view["SessionID"]) == (15, True, session_id)
    assert view["CreatedAt"] == "2026-11-20T09:00:00Z"
    [(_, tracked)] = read_topic(settings, UserActivity, expected=1)
    assert (tracked["UserID"], tracked["ActivityType"], tracked["ResourceID"]) == (
        "u-42",
        "video",
        "v-1",
    )
    assert tracked["CreatedAt"] == "2026-11-20T09:00:12Z"


def test_tracker_starts_a_new_session_after_30_minutes_of_inactivity() -> None:
    def visit(start: int, storage: dict | None) -> tuple[dict, dict, int]:
        run = run_tracker([{"advance": 1_000}, {"pagehide": True}], start, storage)
        [beacon] = run["sent"]
        return json.loads(beacon["body"]), run["storage"], run["now"]

    first, storage, last = visit(1_000_000, None)
    second, storage, last = visit(last + 29 * 60_000, storage)
    third, _, _ = visit(last + 31 * 60_000, storage)
    assert (first["EntryPage"], second["EntryPage"], third["EntryPage"]) == (True, False, True)
    assert first["SessionID"] == second["SessionID"] != third["SessionID"]
    assert len({first["ID"], second["ID"], third["ID"]}) == 3


# --- served by the CLI ---------------------------------------------------------------------


def test_collector_command_serves_over_http(settings: Settings, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environment = {
        **os.environ,
        "LMS_ANALYTICS_KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "LMS_ANALYTICS_COLLECTOR_WRITE_KEYS": json.dumps([WRITE_KEY]),
        "LMS_ANALYTICS_COLLECTOR_MAX_BODY_BYTES": "2000",
    }
    log = (tmp_path / "collector.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from ingestion.collector.cli import collector; "
            "collector(port=int(sys.argv[1]))",
            str(port),
        ],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        else:
            pytest.fail(f"collector did not start: {(tmp_path / 'collector.log').read_text()}")
        event = page_view()
        with httpx.Client(base_url=base, timeout=10) as http:
            accepted = http.post(
                TRACK,
                json=event,
                headers={"User-Agent": IPAD_SAFARI, "X-Forwarded-For": "203.0.113.1"},
            )
            oversized = http.post(TRACK, content=iter([b"[" + b" " * 1500] * 3))
            still_up = http.get("/healthz")
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert accepted.status_code == 202
    assert oversized.status_code == 413
    assert still_up.status_code == 200
    [(_, value)] = read_topic(settings, PageView, expected=1)
    assert value["ID"] == event["ID"]
    # uvicorn's own proxy-header handling is off: loopback peer, X-Forwarded-For not trusted
    assert value["ClientMetadata"]["IPAddress"] == "127.0.0.1"
    assert value["ClientMetadata"]["DeviceType"] == "tablet"
