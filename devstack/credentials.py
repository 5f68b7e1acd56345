"""Per-stack secrets: generated once, kept in the state dir, readable only by us.

Random rather than fixed values so nothing in the repository works as a credential,
and persisted so that `up` keeps the same keys across restarts.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from shared.access.roles import STAFF_ROLES, Role
from shared.access.tokens import new_token

INTAKE_SOURCES = ("web-form", "marketing-automation")
INTAKE_FORMS = ("contact",)  # config/forms.yaml's forms, each with a publishable key


@dataclass(frozen=True)
class StackSecrets:
    intake_api_keys: dict[str, str]  # source -> API key
    crm_webhook_secret: str
    hubspot_client_secret: str  # stands in for a HubSpot app's client secret
    admin_token: str  # the token named local-admin: every role of a person (viewer, revops, operator, privacy)
    intake_form_keys: dict[str, str]  # form id -> publishable key (pk_...): it sits in the form's page
    role_tokens: dict[str, str]  # role -> the value of the token local-<role>, which holds that role only
    kafka_password: str  # the SASL_SSL broker's user handoff (./handoff up --kafka-sasl-ssl)
    kafka_broker_password: str  # ... and the broker's own user, handoff-broker

    def tokens(self) -> dict[str, tuple[str, frozenset[Role]]]:
        """Name -> (value, roles) of every token the stack keeps in the access schema."""
        named = {f"local-{role}": (value, frozenset({Role(role)})) for role, value in self.role_tokens.items()}
        return {"local-admin": (self.admin_token, STAFF_ROLES), **named}


PERSON_ROLES = (Role.viewer, Role.revops, Role.operator, Role.privacy)


def _token() -> str:
    return secrets.token_urlsafe(32)


def load_or_create(path: Path, sources: Sequence[str] = INTAKE_SOURCES) -> StackSecrets:
    """Read `path`, filling in (and saving) anything missing, such as a newly added source."""
    stored = json.loads(path.read_text()) if path.exists() else {}
    keys = dict(stored.get("intake_api_keys", {}))
    for source in sources:
        keys.setdefault(source, _token())
    result = StackSecrets(
        intake_api_keys=keys,
        crm_webhook_secret=stored.get("crm_webhook_secret") or _token(),
        hubspot_client_secret=stored.get("hubspot_client_secret") or _token(),
        admin_token=stored.get("admin_token") or new_token(),
        intake_form_keys={form: stored.get("intake_form_keys", {}).get(form) or f"pk_{_token()}"
                          for form in INTAKE_FORMS},
        role_tokens={role.value: stored.get("role_tokens", {}).get(role.value) or new_token() for role in PERSON_ROLES},
        kafka_password=stored.get("kafka_password") or _token(),
        kafka_broker_password=stored.get("kafka_broker_password") or _token(),
    )
    if asdict(result) != stored:
        _write_private(path, json.dumps(asdict(result), indent=2) + "\n")
    return result


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
