"""Dashboards as web pages, and the data of their widgets.

- `GET /dashboards`: the dashboards the viewer may see (their organisation's public ones and
  their own); `GET /dashboards/{id}`: one dashboard, its widgets on a 12-column grid by their
  positions, filters (date range, course, organisation) for every widget, auto-refresh;
- `GET /api/dashboards/{id}/widgets/{widget_id}/data`: a widget's data as JSON, through the
  report engine, cached (`cache.py`);
- `GET /dashboards/login`, `POST /dashboards/session`, `POST /dashboards/logout`: the login
  handoff that puts the LMS's JWT in an HttpOnly cookie (`access.py`); public dashboards also
  open from a share link.

Modules: `access` (who views, share links), `filters` (dashboard filters -> report
filters and period), `sources` (saved report or query definition -> report definition),
`widget_data` (engine run, cache, chart shapes), `cache`, `pages` (templates, static files),
`demo` (the "Course overview" dashboard).
"""
