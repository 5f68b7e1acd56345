"""The example web form (examples/forms) served the way a company site serves it: from an
origin of its own, posting to the stack's intake with the form's publishable key.

The test stack allows that origin for the form ``contact`` (``allow_form_page``, called by
the stack fixture), so the page's port is chosen before the stack starts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from devstack import child
from devstack.stack import Stack, StackConfig

PAGES = Path(__file__).resolve().parents[2] / "examples" / "forms"
FORM = "contact"
ORIGINS_ENV = "HANDOFF_INTAKE_FORM_ORIGINS"
PAGE_INTAKE_URL = "http://127.0.0.1:8001"  # what the example page posts to; the local stack's intake
PAGE_KEY = "pk_REPLACE_WITH_THE_FORM_KEY"


def allow_form_page(config: StackConfig) -> str:
    """Pick the page's port (none of the stack's) and let intake take the form from it."""
    taken = {config.kafka_port, config.kafka_controller_port, config.postgres_port, *config.service_ports.values()}
    port = next(p for p in child.free_ports(len(taken) + 1) if p not in taken)
    origin = f"http://127.0.0.1:{port}"
    config.service_env.setdefault("intake", {})[ORIGINS_ENV] = json.dumps({FORM: [origin]})
    return origin


def form_page_origin(stack: Stack) -> str:
    return json.loads(stack.config.service_env["intake"][ORIGINS_ENV])[FORM][0]


@contextmanager
def serve_form_page(stack: Stack) -> Iterator[str]:
    """examples/forms on the page's origin, the contact page pointed at this stack; yields the origin."""
    origin = form_page_origin(stack)
    pages = {
        "/contact.html": (PAGES / "contact.html").read_text(encoding="utf-8")
        .replace(PAGE_INTAKE_URL, stack.urls["intake"]).replace(PAGE_KEY, stack.secrets.intake_form_keys[FORM]),
        "/thanks.html": (PAGES / "thanks.html").read_text(encoding="utf-8"),
    }
    assert stack.urls["intake"] in pages["/contact.html"], "the example page no longer posts to PAGE_INTAKE_URL"

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name for it
            page = pages.get(self.path.split("?", 1)[0])
            body = (page or "not found").encode()
            self.send_response(200 if page else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", int(origin.rsplit(":", 1)[1])), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        server.shutdown()
        server.server_close()
