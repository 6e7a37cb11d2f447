"""ingestion package (see ../shared/spec/architecture.md)."""
