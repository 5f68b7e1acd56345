"""HubSpot's webhooks on the real stack: v3 signatures, contacts linked by email,
outcomes applied, and what cannot be applied parked for review, never dropped."""

from __future__ import annotations

import itertools
import time

import httpx
import orjson
import pytest

from shared.webhooks.hubspot_signature import sign_v3
from tests.e2e.helpers import QUALIFIED, timeline, wait_for, wait_for_event

PORTAL = 4711
_event_ids = itertools.count(1000)
_object_ids = itertools.count(50_000)


def hs_event(object_id: int, prop: str, value: str, *, at_ms: int | None = None) -> dict:
    return {"eventId": next(_event_ids), "subscriptionId": 77, "portalId": PORTAL, "appId": 1,
            "occurredAt": at_ms or int(time.time() * 1000), "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0, "objectId": object_id, "propertyName": prop, "propertyValue": value,
            "changeSource": "CRM"}


def webhook_url(feedback: httpx.Client) -> str:
    """The URL HubSpot would sign: the one the service sees, as no public URL is configured."""
    return str(feedback.base_url.join("/webhooks/hubspot"))


def post_hubspot(feedback: httpx.Client, secret: str, events: list[dict], *, timestamp_ms: int | None = None,
                 signing_secret: str | None = None) -> httpx.Response:
    body = orjson.dumps(events)
    ts = str(timestamp_ms or int(time.time() * 1000))
    signature = sign_v3(signing_secret or secret, "POST", webhook_url(feedback), body, ts)
    return feedback.post("/webhooks/hubspot", content=body, headers={
        "Content-Type": "application/json", "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": ts})


@pytest.fixture
def hubspot_secret(stack) -> str:
    return stack.secrets.hubspot_client_secret


@pytest.fixture
def admin(stack) -> dict:
    return {"Authorization": f"Bearer {stack.secrets.admin_token}"}


def routed_lead(intake, feedback, email) -> str:
    response = intake.post("/leads", json={"email": email, **QUALIFIED})
    assert response.status_code == 202, response.text
    lead_id = response.json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.routed")
    return lead_id


def stage_of(feedback, lead_id) -> str:
    return timeline(feedback, lead_id)["stage"]


def parked(feedback, status="parked") -> dict[str, dict]:
    items = feedback.get("/outcomes/parked", params={"status": status, "limit": 1000}).json()["items"]
    return {p["delivery_id"]: p for p in items}


def delivery_of(event: dict) -> str:
    return (f"hubspot:{event['portalId']}:{event['subscriptionId']}:{event['eventId']}:"
            f"{event['objectId']}:{event['occurredAt']}")


def test_status_before_the_email_link_is_parked_then_applied_once_linked(intake, feedback, hubspot_secret, email):
    lead_id = routed_lead(intake, feedback, email)
    contact = next(_object_ids)
    now = int(time.time() * 1000)
    status_change = hs_event(contact, "hs_lead_status", "CONNECTED", at_ms=now - 2000)
    link = hs_event(contact, "email", email.upper(), at_ms=now - 1000)

    response = post_hubspot(feedback, hubspot_secret, [link, status_change])  # HubSpot does not promise order
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["parked"], body["linked"]) == (2, 1, 1)
    assert "1 parked outcome(s) applied" in body["events"][1]["detail"]
    assert stage_of(feedback, lead_id) == "accepted"
    applied = parked(feedback, "applied")[delivery_of(status_change)]
    assert applied["resolved_by"] == "contact linked" and applied["lead_id"] == lead_id
    story = wait_for_event(feedback, lead_id, "lead.outcome")
    outcome = [e for e in story["events"] if e["type"] == "lead.outcome"][0]["payload"]
    assert outcome["outcome"] == "accepted" and outcome["crm_delivery_id"] == delivery_of(status_change)

    # HubSpot retries the whole batch (our answer got lost): nothing is applied twice
    again = post_hubspot(feedback, hubspot_secret, [link, status_change]).json()
    assert (again["duplicate"], again["linked"], again["parked"]) == (1, 1, 0)

    # the win is the sentinel: on the lead's partition after anything the retry could have caused
    won = hs_event(contact, "recent_deal_amount", "18250.00")
    assert post_hubspot(feedback, hubspot_secret, [won]).json()["applied"] == 1
    assert stage_of(feedback, lead_id) == "won"

    def won_on_the_timeline():
        found = timeline(feedback, lead_id)
        outcomes = [e["payload"] for e in found["events"] if e["type"] == "lead.outcome"]
        return outcomes if outcomes and outcomes[-1]["outcome"] == "won" else None
    outcomes = wait_for(won_on_the_timeline, 20, "the won outcome on the timeline")
    assert [o["outcome"] for o in outcomes] == ["accepted", "won"]  # the retry applied nothing twice
    assert (outcomes[-1]["amount"], outcomes[-1]["currency"]) == ("18250.00", "EUR")


def test_an_invalid_transition_is_parked_and_retried_after_the_cause_is_fixed(
        stack, intake, feedback, hubspot_secret, admin, email):
    lead_id = routed_lead(intake, feedback, email)
    contact = next(_object_ids)
    assert post_hubspot(feedback, hubspot_secret, [hs_event(contact, "email", email)]).json()["linked"] == 1
    opportunity = hs_event(contact, "lifecyclestage", "opportunity")  # before sales accepted the lead
    body = post_hubspot(feedback, hubspot_secret, [opportunity]).json()
    assert body["parked"] == 1 and "cannot follow stage 'routed'" in body["events"][0]["detail"]
    assert stage_of(feedback, lead_id) == "routed"  # nothing of it applied
    item = parked(feedback)[delivery_of(opportunity)]

    without = feedback.post(f"/outcomes/parked/{item['id']}/retry", headers={"Authorization": ""})
    assert without.status_code == 401  # needs a token
    as_viewer = feedback.post(f"/outcomes/parked/{item['id']}/retry",
                              headers={"Authorization": f"Bearer {stack.secrets.role_tokens['viewer']}"})
    assert as_viewer.status_code == 403  # and the revops role
    still = feedback.post(f"/outcomes/parked/{item['id']}/retry", headers=admin)
    assert still.status_code == 409 and "cannot follow" in still.json()["detail"]

    assert post_hubspot(feedback, hubspot_secret, [hs_event(contact, "hs_lead_status", "IN_PROGRESS")]
                        ).json()["applied"] == 1
    retried = feedback.post(f"/outcomes/parked/{item['id']}/retry", headers=admin)
    assert retried.status_code == 200, retried.text
    assert stage_of(feedback, lead_id) == "opportunity"
    assert delivery_of(opportunity) in parked(feedback, "applied")
    assert feedback.post(f"/outcomes/parked/{item['id']}/retry", headers=admin).status_code == 409


def test_a_reason_outside_the_vocabulary_is_parked_and_can_be_discarded(
        intake, feedback, hubspot_secret, admin, email):
    lead_id = routed_lead(intake, feedback, email)
    contact = next(_object_ids)
    post_hubspot(feedback, hubspot_secret, [hs_event(contact, "email", email)])
    rejection = hs_event(contact, "handoff_rejection_reason", "too_small")
    body = post_hubspot(feedback, hubspot_secret, [rejection]).json()
    assert body["parked"] == 1 and "agreed reasons" in body["events"][0]["detail"]
    assert stage_of(feedback, lead_id) == "routed"
    item = parked(feedback)[delivery_of(rejection)]
    assert item["received"]["propertyValue"] == "too_small"  # kept whole for the reviewer

    assert feedback.post(f"/outcomes/parked/{item['id']}/discard", json={"note": ""}, headers=admin
                         ).status_code == 422
    done = feedback.post(f"/outcomes/parked/{item['id']}/discard", json={"note": "asked sales to pick a reason"},
                         headers=admin)
    assert done.status_code == 200
    discarded = parked(feedback, "discarded")[delivery_of(rejection)]
    assert discarded["note"] == "asked sales to pick a reason"
    assert delivery_of(rejection) not in parked(feedback)


def test_unmapped_changes_are_ignored_and_an_unparsable_amount_is_parked(intake, feedback, hubspot_secret, email):
    lead_id = routed_lead(intake, feedback, email)
    contact = next(_object_ids)
    post_hubspot(feedback, hubspot_secret, [hs_event(contact, "email", email)])
    body = post_hubspot(feedback, hubspot_secret, [hs_event(contact, "phone", "+1 555"),
                                                   hs_event(contact, "recent_deal_amount", "a lot")]).json()
    assert (body["ignored"], body["parked"]) == (1, 1)
    assert stage_of(feedback, lead_id) == "routed"


@pytest.mark.parametrize("forgery", ["wrong secret", "stale", "no signature", "tampered body"])
def test_requests_not_believed_are_refused_and_nothing_is_applied(intake, feedback, hubspot_secret, email, forgery):
    lead_id = routed_lead(intake, feedback, email)
    contact = next(_object_ids)
    events = [hs_event(contact, "email", email), hs_event(contact, "hs_lead_status", "CONNECTED")]
    if forgery == "wrong secret":
        response = post_hubspot(feedback, hubspot_secret, events, signing_secret="guess")
    elif forgery == "stale":
        response = post_hubspot(feedback, hubspot_secret, events, timestamp_ms=int(time.time() * 1000) - 301_000)
    elif forgery == "no signature":
        response = feedback.post("/webhooks/hubspot", content=orjson.dumps(events),
                                 headers={"X-HubSpot-Request-Timestamp": str(int(time.time() * 1000))})
    else:
        body = orjson.dumps(events)  # sign one body, send another
        ts = str(int(time.time() * 1000))
        response = feedback.post("/webhooks/hubspot", content=body.replace(b"CONNECTED", b"IN_PROGRESS"), headers={
            "X-HubSpot-Signature-v3": sign_v3(hubspot_secret, "POST", webhook_url(feedback), body, ts),
            "X-HubSpot-Request-Timestamp": ts})
    assert response.status_code == 401, response.text
    assert stage_of(feedback, lead_id) == "routed"  # applied synchronously or not at all
    # the link was not stored either: a correctly signed status change now parks
    later = post_hubspot(feedback, hubspot_secret, [hs_event(contact, "hs_lead_status", "CONNECTED")]).json()
    assert later["parked"] == 1 and "not linked" in later["events"][0]["detail"]


def test_a_batch_that_is_not_hubspots_format_is_refused_with_the_field(feedback, hubspot_secret):
    response = post_hubspot(feedback, hubspot_secret, [{"eventId": 1, "portalId": PORTAL}])
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["detail"]}
    assert {"0.objectId", "0.subscriptionType"} <= fields
