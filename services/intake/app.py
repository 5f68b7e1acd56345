"""Composition root of intake: the door leads and activities come in by."""

from functools import partial

from fastapi import FastAPI

from services.intake.api.batches import router as batches_router
from services.intake.api.form_cors import FormCorsMiddleware
from services.intake.api.forms import forms_router
from services.intake.api.submissions import router
from services.intake.forms_config import load_web_forms
from services.intake.settings import IntakeSettings
from services.intake.tables import metadata
from services.intake.use_cases.erasure import forget_retries
from services.intake.use_cases.forget_rate_windows import run_forgetting
from shared.service.app import build_app
from shared.service.dependencies import ServiceResources
from shared.service.erasure_api import erasure_router
from shared.service.runtime import ServiceRuntime
from shared.service.startup import reviewed_file


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    forms = reviewed_file("intake", lambda: load_web_forms(settings))  # forms.yaml and the form keys

    def compose(runtime: ServiceRuntime) -> ServiceResources:
        runtime.add_loop("forget-rate-windows", partial(run_forgetting, runtime.sessions))
        runtime.before_erasure(forget_retries)
        return ServiceResources(runtime)

    app = build_app(
        "intake", settings, metadata, compose,
        title="Handoff intake",
        description="Web forms and marketing automation post leads and activity here.",
        routers=[batches_router, router, forms_router(forms), erasure_router(metadata)],
        body_limits={"/leads/batch": settings.max_batch_body_bytes,
                     "/activities/batch": settings.max_batch_body_bytes},
    )
    app.add_middleware(FormCorsMiddleware, forms=forms)  # CORS on /forms/<id>, per form
    return app
