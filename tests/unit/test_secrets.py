"""Weak secrets are refused at start-up by name; secrets can come from files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from services.feedback.settings import FeedbackSettings
from services.intake.settings import IntakeSettings
from shared.secrets import MIN_SECRET_CHARS, variables_from_files, weakness

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
STRONG = "q7V3p0Lr9sWk2mXa5eTz"


@pytest.mark.parametrize("value", ["", "   ", "change-me", "CHANGE_ME_NOW_PLEASE_1234", "changeme-but-long-enough",
                                   "pk_change-me-to-a-random-value", "<your secret here>", "xxxxxxxxxxxxxxxxxxxxx",
                                   "your-api-key-goes-here", "short-but-ok"])
def test_placeholders_empty_and_short_values_are_no_secret(value: str) -> None:
    assert weakness(value) is not None


def test_a_random_value_of_sixteen_characters_will_do() -> None:
    assert weakness(STRONG[:MIN_SECRET_CHARS]) is None
    assert "15 characters" in (weakness(STRONG[:15]) or "")


def test_every_service_refuses_to_start_with_the_env_example_naming_each_variable() -> None:
    """The real start (uvicorn --factory): non-zero exit, each placeholder's variable named, no value echoed."""
    example = {k: v for k, v in dotenv_values(ENV_EXAMPLE).items() if v is not None}
    password = example.pop("POSTGRES_PASSWORD")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")} | example
    expected = {"intake": ["HANDOFF_INTAKE_API_KEYS[webform]", "HANDOFF_INTAKE_FORM_KEYS[contact]",
                           "HANDOFF_INTAKE_DATABASE_URL"],
                "feedback": ["HANDOFF_FEEDBACK_WEBHOOK_SECRET", "HANDOFF_FEEDBACK_HUBSPOT_CLIENT_SECRET",
                             "HANDOFF_FEEDBACK_DATABASE_URL"],
                "scoring": ["HANDOFF_SCORING_DATABASE_URL"], "routing": ["HANDOFF_ROUTING_DATABASE_URL"]}
    for service in expected:  # as docker-compose.yml builds it from POSTGRES_PASSWORD
        env[f"HANDOFF_{service.upper()}_DATABASE_URL"] = f"postgresql+asyncpg://handoff:{password}@db:5432/handoff"
    starts = {service: subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", f"services.{service}.app:create_app", "--port", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for service in expected}
    for service, process in starts.items():
        output, _ = process.communicate(timeout=60)
        assert process.returncode != 0, f"{service} started with placeholder secrets"
        assert "refusing to start with a weak secret" in output, output[-2000:]
        for variable in expected[service]:
            assert variable in output, f"{service}: {variable} not named"
        assert "change-me" not in output, f"{service} echoes the placeholder value"


def test_the_migrate_job_refuses_the_placeholder_bootstrap_token() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env |= {"DATABASE_URL": "postgresql+asyncpg://handoff@127.0.0.1:1/handoff",
            "HANDOFF_BOOTSTRAP_REVOPS_TOKEN": dotenv_values(ENV_EXAMPLE)["HANDOFF_BOOTSTRAP_REVOPS_TOKEN"] or ""}
    # refused before any migration: the port of DATABASE_URL is never tried
    done = subprocess.run([sys.executable, "-m", "shared.db.migrations"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "HANDOFF_BOOTSTRAP_REVOPS_TOKEN: is a placeholder" in done.stderr


def test_a_secret_is_read_from_its_file_when_the_variable_is_unset(tmp_path: Path, monkeypatch) -> None:
    for key in [k for k in os.environ if k.startswith("HANDOFF_")]:
        monkeypatch.delenv(key)
    (tmp_path / "webhook").write_text(STRONG + "\n")
    (tmp_path / "keys").write_text(json.dumps({"webform": STRONG}))
    monkeypatch.setenv("HANDOFF_FEEDBACK_WEBHOOK_SECRET_FILE", str(tmp_path / "webhook"))
    monkeypatch.setenv("HANDOFF_INTAKE_API_KEYS_FILE", str(tmp_path / "keys"))
    assert FeedbackSettings().webhook_secrets() == [STRONG]  # the trailing newline dropped
    assert IntakeSettings().api_keys["webform"].get_secret_value() == STRONG
    monkeypatch.setenv("HANDOFF_FEEDBACK_WEBHOOK_SECRET", STRONG[::-1])
    assert FeedbackSettings().webhook_secrets() == [STRONG[::-1]], "the variable wins over its file"


def test_a_missing_secret_file_stops_the_start_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^HANDOFF_FEEDBACK_WEBHOOK_SECRET_FILE: cannot read .*/absent"):
        variables_from_files({"HANDOFF_FEEDBACK_WEBHOOK_SECRET_FILE": str(tmp_path / "absent")},
                             ["HANDOFF_FEEDBACK_WEBHOOK_SECRET"])


def test_only_the_settings_own_file_variables_are_read(tmp_path: Path) -> None:
    environ = {"SSL_CERT_FILE": str(tmp_path / "absent"), "HANDOFF_X_FILE": str(tmp_path / "absent")}
    assert variables_from_files(environ, ["HANDOFF_FEEDBACK_WEBHOOK_SECRET"]) == {}
