"""kill -9 of scoring or routing, as a crash or the OOM killer does it: once it is back, leads flow again,
nothing is lost, and (static group membership) it gets its partitions back at once instead
of waiting out the dead member's session. The seconds it took are printed, not asserted."""

from __future__ import annotations

import time

import pytest

from tests.e2e.helpers import QUALIFIED, wait_for_event

pytestmark = pytest.mark.stack

RECOVERY: dict[str, float] = {}


@pytest.mark.parametrize("service", ["scoring", "routing"])
def test_a_killed_consumer_back_routes_the_next_lead_and_what_was_posted_meanwhile(stack, intake, feedback, email,
                                                                                  service):
    before = intake.post("/leads", json={"email": email, **QUALIFIED})
    wait_for_event(feedback, before.json()["lead_id"], "lead.routed")

    stack.kill_service(service)
    during = intake.post("/leads", json={"email": email.replace("@", ".during@"), **QUALIFIED})
    assert during.status_code == 202  # intake does not need routing to accept
    stack.start_service(service)
    back_at = time.monotonic()
    after = intake.post("/leads", json={"email": email.replace("@", ".after@"), **QUALIFIED})

    for answer in (during, after):
        wait_for_event(feedback, answer.json()["lead_id"], "lead.routed", timeout_s=60)
    RECOVERY[service] = time.monotonic() - back_at
    print(f"\nrecovery after kill -9 of {service}: {RECOVERY[service]:.1f} s from {service} ready to both leads "
          "routed")
