"""A few sample leads through the running stack, and where each one went.

Each run uses fresh addresses (a run tag in the local part), so the demo shows
new leads on a stack that already holds earlier ones.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx

from devstack.errors import DevstackError
from devstack.stack import Stack
from shared.events.payloads import LeadNurtured, LeadRouted

SAMPLE_LEADS: tuple[dict[str, Any], ...] = (
    {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines",
        "domain": "analytical.io",
        "job_title": "VP Engineering",
        "company_size": 240,
        "industry": "software",
        "country": "GB",
        "utm_source": "linkedin",
        "utm_campaign": "q4-launch",
    },
    {
        "first_name": "Grace",
        "last_name": "Hopper",
        "company": "Cobol Systems",
        "domain": "cobol.dev",
        "job_title": "Head of Platform",
        "company_size": 1200,
        "industry": "saas",
        "country": "US",
        "utm_source": "google",
        "utm_campaign": "brand",
    },
    {
        "first_name": "Alan",
        "last_name": "Turing",
        "company": "Enigma Labs",
        "domain": "enigma-labs.com",
        "job_title": "CTO",
        "company_size": 80,
        "industry": "fintech",
        "country": "DE",
        "utm_source": "webinar",
        "utm_campaign": "q4-launch",
    },
    {
        "first_name": "Sam",
        "last_name": "Student",
        "company": None,
        "domain": "gmail.com",
        "job_title": "Student",
        "company_size": None,
        "industry": None,
        "country": "BR",
        "utm_source": "google",
        "utm_campaign": "brand",
    },
    {
        "first_name": "Pat",
        "last_name": "Small",
        "company": "Corner Shop",
        "domain": "cornershop.biz",
        "job_title": "Owner",
        "company_size": 4,
        "industry": "retail",
        "country": "FR",
        "utm_source": "facebook",
        "utm_campaign": "retail-push",
    },
)


@dataclass
class DemoResult:
    email: str
    lead_id: str
    destination: str
    detail: str
    rules: tuple[str, ...] = ()  # a routed lead: each rule tried and why it did not match


def sample_lead(template: dict[str, Any], run_tag: str) -> dict[str, Any]:
    body = {k: v for k, v in template.items() if k != "domain" and v is not None}
    local = f"{template['first_name']}.{template['last_name']}".lower()
    body["email"] = f"{local}.{run_tag}@{template['domain']}"  # a tag after + would be the same person
    return body


def where_it_went(timeline: dict[str, Any]) -> DemoResult | None:
    """The routing decision in a lead's timeline, once there is one."""
    for event in timeline["events"]:
        payload = event["payload"]
        if event["type"] == LeadRouted.event_type:
            rules = tuple(f"{c['rule']}: {'matched' if c['matched'] else c['failed']}"
                          for c in payload.get("decision", {}).get("rules", ()))
            return DemoResult(
                payload["email"], timeline["lead_id"], f"routed to {payload['owner_name']}", payload["reason"], rules
            )
        if event["type"] == LeadNurtured.event_type:
            return DemoResult(payload["email"], timeline["lead_id"], "nurture", payload["reason"])
    return None


def report_lines(results: list[DemoResult]) -> list[str]:
    """The demo's table, as the README shows it: each lead, where it went, why, and the rules tried."""
    width = max(len(r.email) for r in results)
    lines = []
    for r in results:
        lines.append(f"  {r.email:<{width}}  ->  {r.destination}")
        lines += [f"  {'':<{width}}      {line}" for line in (r.detail, *r.rules)]
    return lines


def run_demo(stack: Stack, *, timeout_s: float = 30.0) -> list[DemoResult]:
    run_tag = secrets.token_hex(3)
    api_key = stack.secrets.intake_api_keys["web-form"]
    started = time.monotonic()
    with httpx.Client(timeout=10) as client:
        lead_ids: list[str] = []
        print(f"\nPosting {len(SAMPLE_LEADS)} demo leads to intake ({stack.urls['intake']}/leads) ...")
        for template in SAMPLE_LEADS:
            response = client.post(
                f"{stack.urls['intake']}/leads",
                json=sample_lead(template, run_tag),
                headers={"Authorization": f"Bearer {api_key}"},
            )
            if response.status_code != 202:
                raise DevstackError(f"intake answered {response.status_code}: {response.text}")
            lead_ids.append(response.json()["lead_id"])

        results: dict[str, DemoResult] = {}
        deadline = time.monotonic() + timeout_s
        while len(results) < len(lead_ids) and time.monotonic() < deadline:
            for lead_id in lead_ids:
                if lead_id in results:
                    continue
                response = client.get(f"{stack.urls['feedback']}/leads/{lead_id}/timeline",
                                      headers={"Authorization": f"Bearer {stack.secrets.role_tokens['viewer']}"})
                if response.status_code == 200 and (result := where_it_went(response.json())):
                    results[lead_id] = result
            time.sleep(0.2)
    missing = [lead_id for lead_id in lead_ids if lead_id not in results]
    if missing:
        raise DevstackError(
            f"{len(missing)} demo lead(s) had no routing decision after {timeout_s:.0f} s: "
            f"{', '.join(missing)}; see the service logs in {stack.logs_dir}"
        )
    elapsed = time.monotonic() - started
    ordered = [results[lead_id] for lead_id in lead_ids]
    print(f"\nWhere each lead went ({elapsed:.1f} s from first post to last decision):\n")
    print("\n".join(report_lines(ordered)))
    print(f"\nFull story of one lead (a viewer's token from {stack.layout.secrets_file}):\n"
          f"  curl -H 'Authorization: Bearer <token>' {stack.urls['feedback']}/leads/{ordered[0].lead_id}/timeline\n")
    return ordered
