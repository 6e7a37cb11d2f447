"""Resources shared by the assets: the project's settings, with optional run-level overrides."""

import dagster as dg

from lms_analytics.settings import Settings, get_settings


class LmsAnalyticsResource(dg.ConfigurableResource):
    """The `LMS_ANALYTICS_*` settings of the code location, optionally overridden per run."""

    kafka_topic_prefix: str | None = None
    consumer_group_id: str | None = None

    def settings(self) -> Settings:
        overrides = {
            name: value
            for name, value in {
                "kafka_topic_prefix": self.kafka_topic_prefix,
                "consumer_group_id": self.consumer_group_id,
            }.items()
            if value is not None
        }
        return get_settings().model_copy(update=overrides)
