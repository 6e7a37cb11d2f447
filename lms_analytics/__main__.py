from lms_analytics.cli import run

run()
