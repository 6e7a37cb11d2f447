"""The tracking collector: browser events over HTTP (`POST /v1/track`) into Kafka.

`app.create_app` builds the ASGI app, `cli.collector` serves it, `static/tracker.js` is the
browser tracker it serves at `GET /v1/tracker.js`.
"""
