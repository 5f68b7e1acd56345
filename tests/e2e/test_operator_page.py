"""The operator page in a real headless Chromium (Debian's package, driven by
Playwright): the numbers it shows are the API's numbers, and it refreshes itself."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from playwright.sync_api import Page, sync_playwright

from tests.e2e.helpers import QUALIFIED, wait_for, wait_for_event

FUNNEL_FIELDS = ("leads", "mqls", "routed", "accepted", "rejected", "recycled", "won")


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Chromium is needed for the browser test: apt-get install chromium "
                    "(./handoff test installs it when run as root)")
    return found


@pytest.fixture(scope="module")
def page(stack) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            sign_in(page, stack, stack.secrets.role_tokens["operator"])
            yield page
        finally:
            browser.close()


def sign_in(page: Page, stack, token: str) -> None:
    """As an operator does: the page asks for a token and keeps it in the tab."""
    page.goto(f"{stack.urls['feedback']}/ops/?refresh=1")
    page.locator("[data-testid=token]").fill(token)
    page.locator("[data-testid=signin] button").click()


def post_routed_leads(intake, feedback, email: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        response = intake.post("/leads", json={"email": email.replace("@", f".{i}@"), **QUALIFIED})
        assert response.status_code == 202, response.text
        ids.append(response.json()["lead_id"])
    for lead_id in ids:
        wait_for_event(feedback, lead_id, "lead.routed")
    return ids


def quiet(feedback) -> dict:
    """Wait until every consumer group has caught up, so the numbers hold still (in a snapshot
    taken after this call: the overview keeps one for 2 s)."""
    since = datetime.now(UTC)

    def caught_up():
        data = feedback.get("/ops/overview").json()
        fresh = datetime.fromisoformat(data["generated_at"].replace("Z", "+00:00")) > since
        return data if fresh and data["kafka"]["consumer_lag"] and all(
            row["lag"] == 0 for row in data["kafka"]["consumer_lag"]) else None
    return wait_for(caught_up, 30, "every consumer group at lag 0")


def shown(page: Page) -> dict:
    """Everything the page shows, read from the DOM as a user sees it."""
    def text(selector: str) -> str:
        return page.locator(selector).inner_text().strip()
    return {
        "generated_at": page.locator("[data-testid=status]").get_attribute("data-generated-at"),
        "dead_letters": int(text("[data-testid=dead-letters]")),
        "parked_outcomes": int(text("[data-testid=parked-outcomes]")),
        "sla": {w: int(text(f"[data-testid=sla-{w}]")) for w in ("last_hour", "last_day")},
        "funnel": {w: {f: int(text(f"[data-testid=funnel] tr[data-window={w}] td[data-field={f}]"))
                       for f in FUNNEL_FIELDS} for w in ("last_hour", "last_day")},
        "topics": {row.get_attribute("data-topic"): {
            "messages": int(row.locator("td[data-field=messages]").inner_text()),
            "messages_per_s": row.locator("td[data-field=messages_per_s]").inner_text(),
            "lag": int(row.locator("td[data-field=lag]").inner_text()),
        } for row in page.locator("[data-testid=topics] tbody tr").all()},
        "lag": {(row.get_attribute("data-group"), row.get_attribute("data-topic")):
                int(row.locator("td[data-field=lag]").inner_text())
                for row in page.locator("[data-testid=lag] tbody tr").all()},
    }


def as_page_would_show(data: dict) -> dict:
    return {
        "generated_at": data["generated_at"],
        "dead_letters": data["kafka"]["dead_letters"],
        "parked_outcomes": data["parked_outcomes"],
        "sla": data["sla_breaches"],
        "funnel": {w: {f: data["funnel"][w][f] for f in FUNNEL_FIELDS} for w in ("last_hour", "last_day")},
        "topics": {t["topic"]: {"messages": t["messages"], "lag": t["lag"],
                                "messages_per_s": "–" if t["messages_per_s"] is None else f"{t['messages_per_s']:.2f}"}
                   for t in data["kafka"]["topics"]},
        "lag": {(row["group"], row["topic"]): row["lag"] for row in data["kafka"]["consumer_lag"]},
    }


def same_snapshot(page: Page, feedback) -> tuple[dict, dict]:
    """The page's numbers and the API's, taken from the same snapshot (same generated_at)."""
    def probe():
        page.wait_for_function("document.querySelector('[data-testid=status]').dataset.generatedAt")
        on_page = shown(page)
        from_api = as_page_would_show(feedback.get("/ops/overview").json())
        return (on_page, from_api) if on_page["generated_at"] == from_api["generated_at"] else None
    return wait_for(probe, 30, "the page and the API on the same snapshot")


def test_the_page_shows_the_apis_numbers_and_refreshes_itself(stack, intake, feedback, page, email):
    post_routed_leads(intake, feedback, email, 4)
    before = quiet(feedback)
    assert before["funnel"]["last_hour"]["routed"] >= 4

    page.goto(f"{stack.urls['feedback']}/ops/?refresh=1")
    on_page, from_api = same_snapshot(page, feedback)
    assert on_page == from_api
    assert on_page["topics"]["lead.captured.v1"]["messages"] >= 4
    assert on_page["lag"] and set(on_page["lag"].values()) == {0}
    assert any(group.startswith("handoff.scoring") for group, _ in on_page["lag"])

    # more leads flow: the open page catches up on its own, no reload
    leads_before = on_page["funnel"]["last_hour"]["leads"]
    captured_before = on_page["topics"]["lead.captured.v1"]["messages"]
    post_routed_leads(intake, feedback, email.replace("@", ".more@"), 3)
    quiet(feedback)
    wait_for(lambda: shown(page)["funnel"]["last_hour"]["leads"] >= leads_before + 3, 20,
             "the page to show the new leads")
    on_page, from_api = same_snapshot(page, feedback)
    assert on_page == from_api
    assert on_page["topics"]["lead.captured.v1"]["messages"] == captured_before + 3
    assert on_page["funnel"]["last_hour"]["routed"] >= before["funnel"]["last_hour"]["routed"] + 3


def test_the_page_shows_a_new_dead_letter(stack, feedback, page):
    async def send_poison():  # a malformed event, as a broken producer would send it
        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait("lead.captured.v1", b"{not json", key=b"poison")
        finally:
            await producer.stop()

    page.goto(f"{stack.urls['feedback']}/ops/?refresh=1")
    before, _ = same_snapshot(page, feedback)
    with ThreadPoolExecutor(1) as pool:  # Playwright's own event loop runs in this thread
        pool.submit(asyncio.run, send_poison()).result()
    wait_for(lambda: shown(page)["dead_letters"] > before["dead_letters"], 30, "the page to count the dead letter")
    on_page, from_api = same_snapshot(page, feedback)
    assert on_page == from_api
    assert page.locator("[data-testid=dead-letters]").get_attribute("class") == "value warn"


def test_the_page_asks_for_a_token_and_refuses_one_without_the_operator_role(stack, page):
    context = page.context.browser.new_context()  # a tab of its own: nobody signed in
    try:
        fresh = context.new_page()
        fresh.goto(f"{stack.urls['feedback']}/ops/")
        assert fresh.locator("[data-testid=signin]").is_visible()
        assert not fresh.locator("#board").is_visible(), "no figures before signing in"
        sign_in(fresh, stack, stack.secrets.role_tokens["viewer"])  # a viewer is not an operator
        fresh.wait_for_function("document.querySelector('[data-testid=signin-error]').textContent.length > 0")
        assert "needs the role operator" in fresh.locator("[data-testid=signin-error]").inner_text()
        assert fresh.locator("[data-testid=signin]").is_visible()
        sign_in(fresh, stack, stack.secrets.role_tokens["operator"])
        fresh.wait_for_function("document.querySelector('[data-testid=status]').dataset.generatedAt")
        assert fresh.locator("#board").is_visible()
    finally:
        context.close()
