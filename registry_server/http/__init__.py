"""The HTTP side port (``serve --http-listen``): /metrics, /healthz, and later
the web console. app.py builds the ASGI application, server.py runs it."""
