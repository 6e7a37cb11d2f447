"""orchestration package (see ../shared/spec/architecture.md)."""
