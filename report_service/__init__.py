"""report_service package (see ../shared/spec/architecture.md)."""
