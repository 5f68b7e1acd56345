"""CORS per web form: a page may read intake's answer (and send a preflight) only for the
form that lists its origin, and nowhere else in intake.

Starlette's CORSMiddleware does the protocol (preflights, Vary, the allowed headers); it
is global by design, so this dispatcher gives each form its own, on ``/forms/<id>`` only.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from services.intake.domain.forms import WebForm

FORMS_PATH = "/forms/"
FORM_KEY_HEADER = "X-Form-Key"


class FormCorsMiddleware:
    def __init__(self, app: ASGIApp, forms: Mapping[str, WebForm]) -> None:
        self.app = app
        self.per_form = {
            form_id: CORSMiddleware(app, allow_origins=sorted(form.origins), allow_methods=["POST"],
                                    allow_headers=[FORM_KEY_HEADER], expose_headers=["Idempotent-Replayed"],
                                    max_age=600)
            for form_id, form in forms.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        cors = self.per_form.get(path[len(FORMS_PATH):]) if path.startswith(FORMS_PATH) else None
        await (cors or self.app)(scope, receive, send)
