"""Web forms, pure: forms.yaml validated with the field path of every problem, and a form's
posted fields read into the lead a JSON post would be (services/intake/domain/forms.py)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from services.intake.api.models import LeadIn
from services.intake.domain.forms import (
    LEAD_FIELDS,
    MAX_FIELDS,
    FormDeclaration,
    FormsError,
    PostedFields,
    collect,
    deploy_forms,
    load_forms,
    map_post,
    pairs_from_json,
    parse_forms,
    spam_reason,
)
from services.intake.forms_config import load_web_forms
from services.intake.settings import IntakeSettings
from shared.service.startup import EX_CONFIG, StartRefused
from shared.settings import REPO_CONFIG_DIR

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
RENDERED = str(int((NOW - timedelta(seconds=20)).timestamp() * 1000))

FORM: dict[str, Any] = {
    "id": "demo",
    "source": "web-form",
    "fields": {"work_email": "email", "name": "first_name", "size": "company_size", "country": "country"},
    "attributes": ["message", "interest"],
    "consent": {"field": "agree", "required": True, "text": "You may call me.", "version": "v1"},
    "allowed_origins": ["https://www.acme.com"],
    "thank_you_url": "/thanks",
    "error_url": "https://www.acme.com/demo?step=2",
    "spam": {"honeypot_field": "website", "min_fill_seconds": 3},
}


def form(**changes: Any) -> FormDeclaration:
    return parse_forms({"forms": [{**copy.deepcopy(FORM), **changes}]}).forms[0]


def posted(**values: str | list[str]) -> PostedFields:
    base: dict[str, str | list[str]] = {"work_email": "Ada@Acme.com", "agree": "on", "_rendered_at": RENDERED}
    return collect((name, v) for name, value in {**base, **values}.items()
                   for v in (value if isinstance(value, list) else [value]))


# ---- the file ------------------------------------------------------------------------------

def test_the_lead_fields_are_leadins_fields():
    assert set(LEAD_FIELDS) == set(LeadIn.model_fields) - {"attributes"}


def test_the_repositorys_forms_file_loads_and_runs():
    document = load_forms(REPO_CONFIG_DIR / "forms.yaml")
    assert [f.id for f in document.forms] == ["contact"]
    forms = load_web_forms(IntakeSettings(form_keys={"contact": "pk_" + "k" * 20},
                                          form_origins={"contact": ["http://127.0.0.1:8080"]}))
    assert forms["contact"].origins == {"https://www.example.com", "http://127.0.0.1:8080"}
    assert forms["contact"].key == "pk_" + "k" * 20


@pytest.mark.parametrize(("changes", "expected"), [
    ({"fields": {"name": "first_name"}}, "forms.0.fields: map one form field to email"),
    ({"fields": {"work_email": "email", "mail": "email"}}, "forms.0.fields.mail: email is already mapped from work_email"),
    ({"fields": {"work_email": "email", "title": "job"}}, "forms.0.fields.title: Input should be 'email', "),
    ({"fields": {"_email": "email"}}, "forms.0.fields._email.[key]: String should match pattern"),
    ({"attributes": ["message", "form"]}, "forms.0.attributes.1: form is written by intake itself"),
    ({"attributes": ["name"]}, "forms.0.attributes.0: name is declared already"),
    ({"consent": {"field": "message", "text": "t", "version": "1"}}, "forms.0.consent.field: message is declared already"),
    ({"consent": {"field": "agree", "text": "t"}}, "forms.0.consent.version: Field required"),
    ({"spam": {"honeypot_field": "size"}}, "forms.0.spam.honeypot_field: size is a real field of this form"),
    ({"spam": {"min_fill_seconds": -1}}, "forms.0.spam.min_fill_seconds: Input should be greater than or equal to 0"),
    ({"allowed_origins": []}, "forms.0.allowed_origins: List should have at least 1 item"),
    ({"allowed_origins": ["https://www.acme.com/"]}, "forms.0.allowed_origins.0: not an origin"),
    ({"allowed_origins": ["https://WWW.acme.com"]}, "forms.0.allowed_origins.0: write the origin as browsers send it"),
    ({"allowed_origins": ["https://www.acme.com:443"]}, "forms.0.allowed_origins.0: write the origin as browsers"),
    ({"allowed_origins": ["http://www.acme.com"]}, "forms.0.allowed_origins.0: a public page is served over https"),
    ({"allowed_origins": ["*"]}, "forms.0.allowed_origins.0: not an origin"),
    ({"thank_you_url": "//evil.example/x"}, "forms.0.thank_you_url: a path on the form page's origin"),
    ({"error_url": "javascript:alert(1)"}, "forms.0.error_url: a path on the form page's origin"),
    ({"source": "Web Form"}, "forms.0.source: String should match pattern"),
    ({"colour": "red"}, "forms.0.colour: not a known field (known here: allowed_origins, attributes, "),
])
def test_a_wrong_form_is_refused_naming_the_field(changes, expected):
    with pytest.raises(FormsError) as refused:
        form(**changes)
    assert expected in str(refused.value)


def test_a_form_declared_twice_is_refused():
    with pytest.raises(FormsError, match="forms.1.id: form demo is declared twice"):
        parse_forms({"forms": [FORM, FORM]})


def test_a_broken_file_stops_the_start_saying_where(tmp_path):
    (tmp_path / "forms.yaml").write_text("forms:\n  - id: demo\n    source: [\n")
    with pytest.raises(FormsError, match=r"forms.yaml:4:1: not valid YAML: "):
        load_web_forms(IntakeSettings(config_dir=tmp_path))
    with pytest.raises(FormsError, match="forms.yaml cannot be read"):
        load_web_forms(IntakeSettings(config_dir=tmp_path / "nowhere"))
    from services.intake.app import create_app

    with pytest.raises(StartRefused, match=r"forms.yaml:4:1: not valid YAML: ") as refused:
        create_app(IntakeSettings(config_dir=tmp_path))
    assert refused.value.code == EX_CONFIG


def test_an_attribute_leadin_would_refuse_stops_the_start(tmp_path):
    (tmp_path / "forms.yaml").write_text(yaml.safe_dump({"forms": [{**FORM, "attributes": ["job-title"]}]}))
    with pytest.raises(FormsError, match=r"forms.0.attributes.job-title: 'job-title' is a field of its own"):
        load_web_forms(IntakeSettings(config_dir=tmp_path))


def test_the_settings_must_fit_the_file():
    document = parse_forms({"forms": [FORM]})
    with pytest.raises(FormsError, match="form_keys.other: no form other is declared"):
        deploy_forms(document, keys={"other": "pk_x"}, extra_origins={}, source_keys=[])
    with pytest.raises(FormsError, match="form_origins.other: no form other is declared"):
        deploy_forms(document, keys={}, extra_origins={"other": ["https://a.com"]}, source_keys=[])
    with pytest.raises(FormsError, match="form_keys.demo: the same value is a source API key"):
        deploy_forms(document, keys={"demo": "pk_shared"}, extra_origins={}, source_keys=["pk_shared"])
    (demo,) = deploy_forms(document, keys={}, extra_origins={}, source_keys=[]).values()
    assert demo.key is None  # no key: the form takes no posts here


@pytest.mark.parametrize(("env", "expected"), [
    ({"HANDOFF_INTAKE_FORM_KEYS": '{"contact": "secret-but-not-publishable"}'}, "a form key is pk_"),
    ({"HANDOFF_INTAKE_FORM_KEYS": '{"contact": "pk_short"}'}, "a form key is pk_"),
    ({"HANDOFF_INTAKE_FORM_ORIGINS": '{"contact": ["https://a.com/path"]}'}, "'https://a.com/path': not an origin"),
])
def test_form_settings_are_checked_as_they_load(monkeypatch, env, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=expected):
        IntakeSettings()


# ---- a post ---------------------------------------------------------------------------------

def test_a_post_becomes_the_lead_a_json_post_would_be():
    mapped = map_post(form(), posted(name="Ada", size="300", country="", message="Hello\r\nthere",
                                     interest=["routing", "scoring"], utm_x="ignored", website=""))
    assert mapped.problems == []
    assert mapped.lead == {"email": "Ada@Acme.com", "first_name": "Ada", "company_size": "300", "attributes": {
        "form": "demo", "message": "Hello\r\nthere", "interest": ["routing", "scoring"], "consent": True,
        "consent_text": "You may call me.", "consent_version": "v1"}}
    assert mapped.ignored == ("utm_x",)
    as_json = LeadIn.model_validate({"email": "ada@acme.com", "first_name": "Ada", "company_size": 300,
                                     "attributes": mapped.lead["attributes"]})
    assert LeadIn.model_validate(mapped.lead) == as_json


@pytest.mark.parametrize(("values", "problem"), [
    ({"agree": ""}, ("agree", "must be ticked to send this form")),
    ({"agree": []}, ("agree", "must be ticked to send this form")),
    ({"agree": "maybe"}, ("agree", "not a checkbox value; send one of on, yes, true, 1 when ticked")),
    ({"name": ["Ada", "Grace"]}, ("name", "sent 2 times; one value is expected")),
    ({"_nonce": "short"}, ("_nonce", "8 to 100 letters, digits, - or _ (the page makes one per render)")),
])
def test_a_wrong_post_names_the_forms_field(values, problem):
    assert problem in map_post(form(), posted(**values)).problems


def test_consent_that_is_not_required_is_recorded_either_way():
    optional = form(consent={"field": "agree", "required": False, "text": "t", "version": "1"})
    assert map_post(optional, posted(agree=[])).lead["attributes"]["consent"] is False
    assert map_post(optional, posted(agree="yes")).lead["attributes"]["consent"] is True
    assert "consent" not in map_post(form(consent=None), posted()).lead["attributes"]


def test_leadins_problems_point_at_the_forms_own_field_names():
    mapped = map_post(form(), posted(size="a few"))
    assert mapped.form_field(("company_size",)) == "size"
    assert mapped.form_field(("email",)) == "work_email"
    assert mapped.form_field(("attributes", "message")) == "message"
    assert mapped.form_field(()) == "body"


def test_the_nonce_is_the_renders_and_control_fields_are_not_ignored_fields():
    mapped = map_post(form(), posted(_nonce="3b1f7c1e9a2d4e5f", _form_key="pk_x"))
    assert mapped.nonce == "3b1f7c1e9a2d4e5f"
    assert mapped.ignored == ()


@pytest.mark.parametrize(("values", "reason"), [
    ({}, None),
    ({"website": "http://spam.example"}, "honeypot"),
    ({"website": "   "}, None),
    ({"_rendered_at": []}, "no_render_time"),
    ({"_rendered_at": "yesterday"}, "no_render_time"),
    ({"_rendered_at": "12"}, "no_render_time"),
    ({"_rendered_at": "9" * 17}, "no_render_time"),
    ({"_rendered_at": str(int((NOW - timedelta(seconds=2)).timestamp() * 1000))}, "too_fast"),
    ({"_rendered_at": str(int((NOW + timedelta(hours=1)).timestamp() * 1000))}, "too_fast"),
])
def test_bots_are_told_from_people(values, reason):
    assert spam_reason(form(), posted(**values), NOW) == reason


def test_the_checks_can_be_switched_off():
    relaxed = form(spam={"honeypot_field": None, "min_fill_seconds": 0})
    assert spam_reason(relaxed, posted(website="x", _rendered_at=[]), NOW) is None


def test_a_post_is_bounded():
    assert collect([(f"f{i}", "x") for i in range(MAX_FIELDS + 5)]).problems == [
        ("body", f"more than {MAX_FIELDS} fields; a form sends fewer")]
    assert collect([("message", "x" * 5001)]).problems == [("message", "longer than 5000 characters")]
    assert collect([("n" * 101, "x")]).problems == [("body", "a field name is longer than 100 characters")]
    unnamed = collect([("", "x" * 6000), (" ", "y"), ("message", "hi")])  # no browser sends an unnamed input
    assert (unnamed.problems, unnamed.values) == ([], {"message": ["hi"]})


def test_a_fetch_based_form_sends_json_an_html_form_could_have_sent():
    pairs, problems = pairs_from_json({"email": "a@b.com", "agree": True, "size": 300, "interest": ["a", "b"],
                                       "phone": None, "nested": {"x": 1}})
    assert pairs == [("email", "a@b.com"), ("agree", "true"), ("size", "300"), ("interest", "a"), ("interest", "b")]
    assert problems == [("nested", "must be a string, a number, true/false or a list of those")]
    assert pairs_from_json(["a"])[1] == [("body", "must be a JSON object of the form's fields")]
