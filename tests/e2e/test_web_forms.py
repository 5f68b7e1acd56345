"""Web forms on the real stack: the example page (examples/forms) in Chromium, served from an
origin of its own, posts a lead that is routed; plain posts show what a form's fields become,
that bots are thanked and nothing of theirs is kept, and that the publishable key opens
nothing but its form, from nothing but the form's origins."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright
from prometheus_client.parser import text_string_to_metric_families

from shared.identity import lead_id_for
from tests.e2e.form_page import FORM, serve_form_page
from tests.e2e.helpers import wait_for_event
from tests.e2e.test_operator_page import chromium_path

pytestmark = pytest.mark.stack

CONSENT_TEXT = "I agree that Example may contact me about its products. I can withdraw this at any time."
QUALIFIED_FORM = {"first_name": "Ada", "last_name": "Lovelace", "company": "Acme", "job_title": "VP Sales",
                  "company_size": "300", "industry": "software", "country": "US"}


@pytest.fixture(scope="module")
def page_origin(stack) -> Iterator[str]:
    with serve_form_page(stack) as origin:
        yield origin


@pytest.fixture
def form_key(stack) -> str:
    return stack.secrets.intake_form_keys[FORM]


def page_fields(email: str, key: str, *, rendered_s_ago: float = 10, **fields) -> dict:
    """What the example page sends: the visitor's fields and the page's hidden ones."""
    return {"email": email, **QUALIFIED_FORM, "consent": "yes", "website": "", "_form_key": key,
            "_nonce": uuid.uuid4().hex, "_rendered_at": str(int((time.time() - rendered_s_ago) * 1000)), **fields}


def post_form(stack, origin: str | None, **kwargs) -> httpx.Response:
    headers = {**({"Origin": origin} if origin else {}), **kwargs.pop("headers", {})}
    return httpx.post(f"{stack.urls['intake']}/forms/{FORM}", headers=headers, timeout=10, **kwargs)


def captured(feedback, lead_id: str) -> list[dict]:
    found = wait_for_event(feedback, lead_id, "lead.routed")
    return [e["payload"] for e in found["events"] if e["type"] == "lead.captured"]


def counter(stack, name: str, **labels: str) -> float:
    text = httpx.get(f"{stack.urls['intake']}/metrics", timeout=5).text
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == name and set(labels.items()) <= set(s.labels.items()))


def test_a_visitor_sends_the_example_form_in_chromium_and_the_lead_is_routed(stack, page_origin, feedback, email):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{page_origin}/contact.html?utm_source=Newsletter&utm_campaign=q4-launch")
            page.fill("#email", email)
            for name in ("first_name", "last_name", "company", "job_title"):
                page.fill(f"#{name}", QUALIFIED_FORM[name])
            for name in ("company_size", "industry", "country"):
                page.select_option(f"#{name}", QUALIFIED_FORM[name])
            page.check("input[name=interest][value=routing]")
            page.fill("#message", "Can we see a demo?\nThursdays suit us.")
            page.check("input[name=consent]")
            send = page.get_by_test_id("send")
            expect(send).to_be_enabled(timeout=15_000)  # the page's script: once min_fill_seconds passed
            send.click()
            page.wait_for_url(f"{page_origin}/thanks.html")
            expect(page.get_by_test_id("thanks")).to_be_visible()
        finally:
            browser.close()

    (lead,) = captured(feedback, str(lead_id_for(email)))
    assert lead["source"] == "web-form"
    assert (lead["email"], lead["job_title"], lead["company_size"], lead["country"]) == (email, "VP Sales", 300, "US")
    assert lead["utm"] == {"utm_source": "newsletter", "utm_campaign": "q4-launch"}
    assert lead["attributes"] == {"form": FORM, "interest": "routing", "message": "Can we see a demo?\r\nThursdays suit us.",
                                  "consent": True, "consent_text": CONSENT_TEXT, "consent_version": "2026-12-01"}


def test_the_example_page_shows_intakes_refusal_and_keeps_the_visitors_input(stack, page_origin, email):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{page_origin}/contact.html")
            page.fill("#email", email)
            page.fill("#first_name", "Ada")
            page.fill("#phone", "+1 555 0100 " * 10)  # 120 characters: LeadIn takes 50
            page.check("input[name=consent]")
            expect(page.get_by_test_id("send")).to_be_enabled(timeout=15_000)
            page.get_by_test_id("send").click()
            page.wait_for_url(re.compile(r"/contact\.html\?error="))
            errors = page.get_by_test_id("errors")
            expect(errors).to_contain_text("phone: String should have at most 50 characters")
            expect(page.locator("#phone")).to_have_attribute("aria-invalid", "true")
            expect(page.locator("#email")).to_have_value(email)  # put back from the page's session storage
            expect(page.locator("#first_name")).to_have_value("Ada")
        finally:
            browser.close()


def test_a_urlencoded_post_keeps_the_declared_extras_and_the_consent_and_ignores_the_rest(
        stack, page_origin, form_key, feedback, email):
    ignored_before = counter(stack, "handoff_form_ignored_fields_total", form=FORM)
    response = post_form(stack, page_origin, data=page_fields(
        email, form_key, message="Call me", interest=["routing", "scoring"], newsletter="weekly", gclid="abc"))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{page_origin}/thanks.html"
    assert response.headers["access-control-allow-origin"] == page_origin

    (lead,) = captured(feedback, str(lead_id_for(email)))
    assert lead["attributes"] == {"form": FORM, "message": "Call me", "interest": ["routing", "scoring"],
                                  "consent": True, "consent_text": CONSENT_TEXT, "consent_version": "2026-12-01"}
    assert lead["first_name"] == "Ada" and lead["company_size"] == 300
    assert counter(stack, "handoff_form_ignored_fields_total", form=FORM) - ignored_before == 2


def test_a_script_gets_json_answers_and_a_double_submit_is_one_submission(stack, page_origin, form_key, email):
    fields = page_fields(email, form_key)
    as_multipart = [(name, (None, value)) for name, value in fields.items()]
    first = post_form(stack, page_origin, files=as_multipart, headers={"Accept": "application/json"})
    assert first.status_code == 202, first.text
    assert first.json()["lead_id"] == str(lead_id_for(email))
    assert first.headers["access-control-allow-origin"] == page_origin

    again = post_form(stack, page_origin, json=fields)  # the same render's nonce: the first answer
    assert again.status_code == 202, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["submission_id"] == first.json()["submission_id"]

    changed = post_form(stack, page_origin, json={**fields, "first_name": "Grace"})
    assert changed.status_code == 422
    assert [p["field"] for p in changed.json()["detail"]] == ["_nonce"]


def test_every_refusal_names_the_forms_own_field(stack, page_origin, form_key, email):
    wrong = page_fields("not-an-address", form_key, company_size="a few", consent="")
    browser = post_form(stack, page_origin, data=wrong)
    assert browser.status_code == 303
    location = urlsplit(browser.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{page_origin}/contact.html"
    errors = dict(e.split(":", 1) for _, e in parse_qsl(location.query) if _ == "error")
    assert set(errors) == {"email", "company_size", "consent"}, errors
    assert errors["consent"] == "must be ticked to send this form"
    assert errors["email"].startswith("not an email address")

    script = post_form(stack, page_origin, data=wrong, headers={"Accept": "application/json"})
    assert script.status_code == 422
    assert {p["field"] for p in script.json()["detail"]} == {"email", "company_size", "consent"}
    assert script.headers["access-control-allow-origin"] == page_origin

    too_long = post_form(stack, page_origin, data=page_fields(email, form_key, message="x" * 6000),
                         headers={"Accept": "application/json"})
    assert too_long.status_code == 422
    assert too_long.json()["detail"] == [{"field": "message", "reason": "longer than 5000 characters"}]
    a_file = post_form(stack, page_origin, data=page_fields(email, form_key), files={"cv": ("cv.txt", b"hello")},
                       headers={"Accept": "application/json"})
    assert a_file.status_code == 422
    assert a_file.json()["detail"] == [{"field": "cv", "reason": "files are not taken; send text fields only"}]


def test_bots_are_thanked_and_nothing_of_theirs_is_kept(stack, page_origin, form_key, feedback, email):
    reasons = ("honeypot", "too_fast", "no_render_time")
    before = {r: counter(stack, "handoff_form_spam_total", form=FORM, reason=r) for r in reasons}
    bots = [page_fields(email, form_key, website="http://cheap-pills.example", message="bot 1"),
            page_fields(email, form_key, rendered_s_ago=0.5, message="bot 2"),
            {k: v for k, v in page_fields(email, form_key, message="bot 3").items() if k != "_rendered_at"}]
    for bot in bots:
        response = post_form(stack, page_origin, data=bot)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"{page_origin}/thanks.html"
    as_json = post_form(stack, page_origin, json=bots[0])
    assert as_json.status_code == 202 and as_json.json()["status"] == "accepted"
    assert {r: counter(stack, "handoff_form_spam_total", form=FORM, reason=r) - before[r] for r in reasons} == \
        {"honeypot": 2, "too_fast": 1, "no_render_time": 1}

    # the same person, for real, after the bots: their lead's events are on one partition, in
    # order, so once this post is routed any capture of a bot's post would be there before it
    person = post_form(stack, page_origin, data=page_fields(email, form_key, message="a person"))
    assert person.status_code == 303
    (lead,) = captured(feedback, str(lead_id_for(email)))
    assert lead["attributes"]["message"] == "a person"


def test_only_the_forms_origins_may_post_or_read_the_answers(stack, page_origin, form_key, email):
    fields = page_fields(email, form_key)
    for origin in ("https://evil.example", "null", None):
        refused = post_form(stack, origin, data=fields)
        assert refused.status_code == 403, (origin, refused.text)
        assert "access-control-allow-origin" not in refused.headers
    assert "evil.example" in post_form(stack, "https://evil.example", data=fields).json()["detail"]

    def preflight(path: str, origin: str) -> httpx.Response:
        return httpx.options(f"{stack.urls['intake']}{path}", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-form-key"}, timeout=10)

    allowed = preflight(f"/forms/{FORM}", page_origin)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == page_origin
    assert "x-form-key" in allowed.headers["access-control-allow-headers"].lower()
    for path, origin in ((f"/forms/{FORM}", "https://evil.example"), ("/leads", page_origin)):
        assert "access-control-allow-origin" not in preflight(path, origin).headers, path


def test_the_form_key_opens_only_its_form(stack, page_origin, form_key, email):
    wrong_key = post_form(stack, page_origin, data=page_fields(email, "pk_not-this-forms-key-at-all"))
    assert wrong_key.status_code == 401
    no_key = post_form(stack, page_origin, data={k: v for k, v in page_fields(email, form_key).items()
                                                 if k != "_form_key"})
    assert no_key.status_code == 401
    intake = stack.urls["intake"]
    lead = {"email": email, **QUALIFIED_FORM}
    for path, body in (("/leads", lead), ("/activities", {"email": email, "activity_type": "demo_request"})):
        for headers in ({"Authorization": f"Bearer {form_key}"}, {"X-API-Key": form_key}):
            response = httpx.post(f"{intake}{path}", json=body, headers={"Origin": page_origin, **headers}, timeout=10)
            assert response.status_code == 401, (path, headers, response.text)
    # with the key in a header, as a fetch-based form sends it
    with_header = post_form(stack, page_origin, data={k: v for k, v in page_fields(email, form_key).items()
                                                      if k != "_form_key"}, headers={"X-Form-Key": form_key})
    assert with_header.status_code == 303
    assert with_header.headers["location"] == f"{page_origin}/thanks.html"


def test_an_unknown_form_is_404(stack, page_origin, form_key, email):
    response = httpx.post(f"{stack.urls['intake']}/forms/no-such-form", data=page_fields(email, form_key),
                          headers={"Origin": page_origin}, timeout=10)
    assert response.status_code == 404
    assert "no-such-form" in response.json()["detail"]


@pytest.mark.fuzz
def test_the_form_endpoint_holds_to_its_contract_from_an_allowed_origin_with_its_key(stack, page_origin, form_key):
    """The contract fuzzing (test_openapi_contract.py) reaches this route without an allowed
    Origin, so only its 403; here every body gets past the origin and the key."""
    from tests.e2e.openapi_fuzzing import fuzz_signed
    from tests.e2e.test_openapi_contract import assert_clean

    intake = stack.urls["intake"]
    figures = fuzz_signed("web form with its origin and key", f"{intake}/openapi.json", intake, "POST",
                          "/forms/{form_id}", lambda method, url, body: {"Origin": page_origin, "X-Form-Key": form_key},
                          max_examples=25)
    assert_clean(figures)
    assert set(figures.statuses) - {403, 404}, f"nothing got past the origin: {figures.summary()}"
