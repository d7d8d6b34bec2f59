"""The metrics and health endpoint every long-running component exposes.

``serve(settings, component, port_offset)`` starts one small HTTP server (a daemon thread)
on ``settings.metrics.host`` that answers ``/metrics`` (Prometheus text format from the
default registry), ``/healthz`` (the process is alive) and ``/readyz`` (the component said
it is ready via :func:`set_ready`). Port 0 in settings disables it.

Metric names: ``hivemind_<stage>_<thing>_<unit>``, counters end in ``_total``; labels are
low-cardinality outcomes, never workspace/session/event ids. Each stage defines its
metrics once, in its own module.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)

_ready = threading.Event()


def set_ready(ready: bool = True) -> None:
    if ready:
        _ready.set()
    else:
        _ready.clear()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body, ctype, code = generate_latest(REGISTRY), CONTENT_TYPE_LATEST, 200
        elif path == "/healthz":
            body, ctype, code = b"ok\n", "text/plain", 200
        elif path == "/readyz":
            ok = _ready.is_set()
            body, ctype, code = (b"ready\n" if ok else b"starting\n"), "text/plain", (200 if ok else 503)
        else:
            body, ctype, code = b"not found: try /metrics, /healthz, /readyz\n", "text/plain", 404
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def serve(host: str, port: int) -> ThreadingHTTPServer | None:
    """Serve /metrics, /healthz, /readyz on host:port in a daemon thread (port 0: off)."""
    if port <= 0:
        return None
    server = ThreadingHTTPServer((host, port), _Handler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    log.info("metrics and health on http://%s:%d/metrics", host, port)
    return server


# Port offsets from HIVEMIND_METRICS_PORT, one per component on the same machine.
PORT_OFFSETS = {"sessionizer": 0, "sink": 1, "codifier": 2, "agentd": 3, "publisher": 4, "measure": 5}
