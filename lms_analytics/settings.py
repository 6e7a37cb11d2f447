"""All configuration, read once from `LMS_ANALYTICS_*` environment variables.

Every default points at the embedded local stack. Setting a server's URL (`POSTGRES_URL`,
`KAFKA_BOOTSTRAP_SERVERS`, `CLICKHOUSE_URL`) marks that server as external: the local stack then
does not start it and every client talks to the given address instead.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK = "127.0.0.1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LMS_ANALYTICS_", extra="ignore", frozen=True)

    home: Path = Field(
        default=Path(".lms-analytics"),
        description="Folder holding the local stack's data, logs and run state.",
    )
    bind_host: str = Field(default=LOOPBACK, description="Address the local servers listen on.")

    # PostgreSQL: report metadata and Dagster's instance storage.
    postgres_url: str | None = Field(default=None, description="External PostgreSQL URL.")
    postgres_port: int = 15432
    postgres_database: str = "lms_analytics"

    # Kafka protocol broker.
    kafka_bootstrap_servers: str | None = Field(default=None, description="External Kafka.")
    kafka_port: int = 19092
    kafka_topic_prefix: str = ""

    # ClickHouse over its HTTP interface (the local gateway, or a real server).
    clickhouse_url: str | None = Field(default=None, description="External ClickHouse HTTP URL.")
    clickhouse_port: int = 18123
    clickhouse_user: str = "default"
    clickhouse_password: str = ""

    # Ingestion: the Kafka consumer that lands events in raw tables.
    consumer_group_id: str = "lms-analytics-ingestion"
    # Kafka brokers refuse less than their group.min.session.timeout.ms (6 s by default).
    kafka_session_timeout_ms: int = Field(default=6000, ge=1000)
    ingest_batch_size: int = Field(default=50_000, gt=0)
    ingest_batch_seconds: float = Field(default=1.0, gt=0)

    # Collector: the browser tracking endpoint (POST /v1/track).
    collector_port: int = 18080
    collector_write_keys: list[str] = Field(
        default_factory=lambda: ["local-dev-write-key"],
        description="Accepted write keys (X-Write-Key header or ?write_key=).",
    )
    collector_max_body_bytes: int = Field(default=512 * 1024, gt=0)
    collector_cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    collector_trusted_proxy_header: str | None = Field(
        default=None, description="e.g. X-Forwarded-For, when behind a trusted proxy."
    )
    collector_anonymize_ip: bool = False

    # Report service: REST API, auth, artifacts.
    api_port: int = 18000
    jwt_hs256_secret: str | None = Field(
        default="local-development-secret-change-me-in-production",
        description="HS256 secret shared with the LMS Auth Service (32+ bytes).",
    )
    jwt_rs256_public_key: str | None = None
    jwt_audience: str | None = None
    api_keys: dict[str, str] = Field(
        default_factory=dict, description="API key -> 'role:org' for service accounts."
    )
    artifact_dir: Path | None = Field(default=None, description="Default: <home>/artifacts.")
    report_timezone: str = "UTC"
    public_base_url: str | None = None
    analytics_database: str = Field(
        default="analytics", description="ClickHouse database of the marts reports read."
    )
    # A scheduled report run that fails is retried this often, after this delay (doubling).
    report_max_retries: int = Field(default=2, ge=0, le=10)
    report_retry_delay_seconds: float = Field(default=60.0, ge=0)

    # Dagster: the UI/GraphQL endpoint that report schedule changes ask to reload its code.
    dagster_port: int = 13000
    dagster_url: str | None = Field(default=None, description="External Dagster webserver URL.")

    # Dashboards: the web pages and the widget data API (report_service.dashboards).
    dashboard_share_secret: str | None = Field(
        default=None,
        description="Key of the share links of public dashboards (32+ bytes); default: derived"
        " from jwt_hs256_secret. Changing it revokes every share link.",
    )
    dashboard_cache_seconds: float = Field(
        default=60.0, ge=0, description="How long widget data is reused (0: never cached)."
    )
    dashboard_refresh_seconds: int = Field(
        default=300, ge=0, description="How often an open dashboard reloads its widgets (0: off)."
    )

    # Outgoing mail for report delivery.
    smtp_host: str = LOOPBACK
    smtp_port: int = 10025
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_sender: str = "reports@lms-analytics.local"

    # How long `stack up` waits for each server to become healthy.
    startup_timeout_seconds: float = 60.0
    shutdown_timeout_seconds: float = 15.0

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, home: Path) -> Path:
        return home.expanduser().resolve()

    # --- where each server is -------------------------------------------------------------

    @property
    def postgres_is_external(self) -> bool:
        return self.postgres_url is not None

    @property
    def kafka_is_external(self) -> bool:
        return self.kafka_bootstrap_servers is not None

    @property
    def clickhouse_is_external(self) -> bool:
        return self.clickhouse_url is not None

    @property
    def postgres_dsn(self) -> str:
        if self.postgres_url is not None:
            return self.postgres_url
        return (
            f"postgresql://postgres@{self.bind_host}:{self.postgres_port}/{self.postgres_database}"
        )

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka_bootstrap_servers or f"{self.bind_host}:{self.kafka_port}"

    @property
    def clickhouse_http_url(self) -> str:
        return self.clickhouse_url or f"http://{self.bind_host}:{self.clickhouse_port}"

    def clickhouse_client_kwargs(self) -> dict[str, object]:
        """Keyword arguments for `clickhouse_connect.get_client`."""
        parts = urlsplit(self.clickhouse_http_url)
        return {
            "host": parts.hostname,
            "port": parts.port or (8443 if parts.scheme == "https" else 8123),
            "secure": parts.scheme == "https",
            "username": self.clickhouse_user,
            "password": self.clickhouse_password,
        }

    # --- the local stack's folders ----------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def artifacts_path(self) -> Path:
        return self.artifact_dir or self.home / "artifacts"

    @property
    def dagster_webserver_url(self) -> str:
        return (self.dagster_url or f"http://{self.bind_host}:{self.dagster_port}").rstrip("/")

    def kafka_topic(self, topic: str) -> str:
        return self.kafka_topic_prefix + topic


def get_settings() -> Settings:
    return Settings()
