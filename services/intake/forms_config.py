"""The web forms this intake runs: ``forms.yaml`` from the config dir, with the keys and
origins the settings add, checked at start so that a broken file stops the service saying
why, not the first visitor's post."""

from __future__ import annotations

from pydantic import ValidationError

from services.intake.api.models import LeadIn
from services.intake.domain.forms import FormsError, WebForm, deploy_forms, load_forms
from services.intake.settings import IntakeSettings
from shared.service.errors import field_errors


def load_web_forms(settings: IntakeSettings) -> dict[str, WebForm]:
    path = settings.forms_path()
    document = load_forms(path)
    problems = []
    for i, form in enumerate(document.forms):
        # what a post of this form will carry, checked by LeadIn now, as every post will be
        attributes: dict[str, object] = {name: "x" for name in form.attributes}
        attributes.update(form="x", consent=True, consent_text="x", consent_version="x")
        try:
            LeadIn.model_validate({"email": "someone@example.com", "attributes": attributes})
        except ValidationError as exc:
            problems += [f"forms.{i}.{p['field']}: {p['reason']}" for p in field_errors(exc)]
    if problems:
        raise FormsError(f"{path} is invalid: {'; '.join(problems)}")
    try:
        return deploy_forms(document, keys={k: v.get_secret_value() for k, v in settings.form_keys.items()},
                            extra_origins=settings.form_origins,
                            source_keys=[v.get_secret_value() for v in settings.api_keys.values()])
    except FormsError as exc:
        raise FormsError(f"the form settings (HANDOFF_INTAKE_FORM_KEYS, _FORM_ORIGINS) do not fit {path}: "
                         f"{exc}") from None
