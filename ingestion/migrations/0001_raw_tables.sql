CREATE DATABASE IF NOT EXISTS raw;

CREATE TABLE IF NOT EXISTS raw.user_created
(
    event_id String,
    id String,
    email String,
    first_name String,
    last_name String,
    created_at DateTime64(3, 'UTC'),
    organization_id Nullable(String),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.user_logged_in
(
    event_id String,
    id String,
    email String,
    ip String,
    user_agent String,
    login_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(login_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.user_enrolled
(
    event_id String,
    id String,
    course_id String,
    user_id String,
    enrolled_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(enrolled_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.course_completed
(
    event_id String,
    user_id String,
    course_id String,
    completed_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(completed_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.progress_updated
(
    event_id String,
    user_id String,
    course_id String,
    module_id String,
    lesson_id String,
    percent_complete Float64,
    updated_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(updated_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.quiz_completed
(
    event_id String,
    user_id String,
    course_id String,
    quiz_id String,
    score Float64,
    passed Bool,
    completed_at DateTime64(3, 'UTC'),
    attempt_id Nullable(String),
    started_at Nullable(DateTime64(3, 'UTC')),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(completed_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.assignment_submitted
(
    event_id String,
    user_id String,
    course_id String,
    assignment_id String,
    submitted_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(submitted_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.payment_completed
(
    event_id String,
    id String,
    user_id String,
    course_id String,
    amount Decimal(18, 4),
    currency String,
    completed_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(completed_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.content_published
(
    event_id String,
    course_id String,
    module_id Nullable(String),
    lesson_id Nullable(String),
    item_type LowCardinality(String),
    item_id String,
    parent_id Nullable(String),
    position Int32,
    title String,
    due_at Nullable(DateTime64(3, 'UTC')),
    published_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(published_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.user_unenrolled
(
    event_id String,
    id String,
    course_id String,
    user_id String,
    unenrolled_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(unenrolled_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.question_answered
(
    event_id String,
    user_id String,
    course_id String,
    quiz_id String,
    question_id String,
    attempt_id String,
    outcome LowCardinality(String),
    time_spent Int32,
    answered_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(answered_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.assignment_graded
(
    event_id String,
    user_id String,
    course_id String,
    assignment_id String,
    score Float64,
    graded_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(graded_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.course_reviewed
(
    event_id String,
    id String,
    user_id String,
    course_id String,
    rating Int32,
    reviewed_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(reviewed_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.video_watched
(
    event_id String,
    user_id String,
    course_id String,
    lesson_id String,
    video_id String,
    watched_seconds Int32,
    playback_rate Float64,
    completed Bool,
    watched_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(watched_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.page_view
(
    event_id String,
    id String,
    user_id String,
    session_id String,
    url String,
    path String,
    title String,
    referrer String,
    time_on_page Int32,
    entry_page Bool,
    exit_page Bool,
    client_device_type LowCardinality(String),
    client_browser String,
    client_operating_system String,
    client_user_agent String,
    client_ip_address String,
    created_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.user_activity
(
    event_id String,
    id String,
    user_id String,
    activity_type String,
    resource_type String,
    resource_id String,
    action String,
    duration Int32,
    client_device_type LowCardinality(String),
    client_browser String,
    client_operating_system String,
    client_user_agent String,
    client_ip_address String,
    created_at DateTime64(3, 'UTC'),
    schema_version UInt16,
    kafka_topic LowCardinality(String),
    kafka_partition Int32,
    kafka_offset Int64,
    kafka_key String,
    ingested_at DateTime64(3, 'UTC'),
    raw String CODEC(ZSTD(1)),
    INDEX ix_ingested_at ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS raw.ingestion_errors
(
    topic LowCardinality(String),
    partition Int32,
    offset Int64,
    key String,
    raw_value String CODEC(ZSTD(1)),
    error String,
    error_class LowCardinality(String),
    received_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(received_at)
ORDER BY (topic, partition, offset);
