"""Versions RevOps can manage, on the real stack: export a version as the reviewed YAML,
compare two field by field, bring an earlier one back (a rollback, re-scoring every lead with
progress), and a YAML with a misspelt key refused at its line with the key meant."""

from __future__ import annotations

import copy
import uuid

import yaml

from services.routing.domain.policy import parse_policy
from services.scoring.domain.definition import parse_definition
from tests.e2e.helpers import QUALIFIED, wait_for, wait_for_event
from tests.e2e.test_scoring import stages

YAML = {"Accept": "application/yaml"}


def test_a_definition_exports_as_yaml_compares_and_rolls_back_with_every_lead_rescored(
        stack, scoring, intake, feedback) -> None:
    lead_id = intake.post("/leads", json={"email": f"versions.{uuid.uuid4().hex[:8]}@acme.com",
                                          **QUALIFIED}).json()["lead_id"]
    wait_for_event(feedback, lead_id, "lead.scored")
    original = scoring.get("/definitions/active").json()

    exported = scoring.get(f"/definitions/{original['version']}", headers=YAML)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/yaml")
    assert exported.text.startswith("# Handoff lead definition, version ")
    assert parse_definition(yaml.safe_load(exported.text)).model_dump(mode="json", by_alias=True) == original
    assert yaml.safe_load(scoring.get("/definitions/active", headers=YAML).text) == original

    candidate = copy.deepcopy(original)
    candidate["version"] = f"stricter-{uuid.uuid4().hex[:6]}"
    candidate["thresholds"]["mql"] = 60
    assert scoring.post("/definitions", json=candidate).status_code == 201

    diff = scoring.get("/definitions/diff", params={"from": original["version"], "to": candidate["version"]})
    assert diff.status_code == 200, diff.text
    assert diff.json()["changes"] == [
        {"field": "version", "change": "changed", "before": original["version"], "after": candidate["version"]},
        {"field": "thresholds.mql", "change": "changed", "before": original["thresholds"]["mql"], "after": 60}]
    assert scoring.get("/definitions/diff", params={"from": "nope", "to": candidate["version"]}).status_code == 404

    viewer = {"Authorization": f"Bearer {stack.secrets.role_tokens['viewer']}"}
    assert scoring.post(f"/definitions/{original['version']}/activate", headers=viewer).status_code == 403
    rolled = scoring.post(f"/definitions/{original['version']}/activate")
    assert rolled.status_code == 201, rolled.text
    back = rolled.json()
    assert back["rollback_of"] == original["version"] and back["version"].endswith(
        f"+rollback.{len(scoring.get('/definitions').json())}")
    active = scoring.get("/definitions/active").json()
    assert {**active, "version": original["version"]} == original
    listed = scoring.get("/definitions").json()[0]
    assert (listed["version"], listed["active"], listed["rollback_of"]) == (back["version"], True, original["version"])
    assert scoring.post(f"/definitions/{back['version']}/activate").status_code == 409
    assert scoring.post("/definitions/never-published/activate").status_code == 404

    done = wait_for(lambda: (s := scoring.get("/definitions/active/sweep").json())["finished"] and s,
                    what="the rollback's re-scoring sweep to finish")
    in_db = stages(stack)
    assert done == {"version": back["version"], "leads": len(in_db), "rescored": len(in_db), "remaining": 0,
                    "finished": True}
    assert all(version == back["version"] for _, version in in_db.values())


def test_a_policy_exports_as_yaml_compares_and_rolls_back(routing) -> None:
    original = routing.get("/policy").json()
    written = yaml.safe_load(routing.get("/policy", headers=YAML).text)
    assert written == original and parse_policy(written).model_dump(mode="json", by_alias=True) == original

    candidate = copy.deepcopy(original)
    candidate["version"] = f"no-hot-{uuid.uuid4().hex[:6]}"
    dropped = candidate["rules"].pop()
    assert routing.post("/policies", json=candidate).status_code == 201
    diff = routing.get("/policies/diff", params={"from": original["version"], "to": candidate["version"]}).json()
    assert diff["changes"][1:] == [{"field": f"rules[{dropped['name']}]", "change": "removed", "before": dropped,
                                    "after": None}]

    rolled = routing.post(f"/policies/{original['version']}/activate")
    assert rolled.status_code == 201, rolled.text
    assert rolled.json()["rollback_of"] == original["version"]
    assert {**routing.get("/policy").json(), "version": original["version"]} == original
    exported = routing.get(f"/policies/{rolled.json()['version']}", headers=YAML).text
    assert yaml.safe_load(exported)["rules"][-1] == dropped


def test_a_yaml_candidate_with_a_misspelt_key_is_refused_at_its_line_with_the_key_meant(scoring) -> None:
    text = scoring.get("/definitions/active", headers=YAML).text
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  min_fit:"))
    lines[at] = lines[at].replace("min_fit", "min_fitt")
    refused = scoring.post("/definitions/simulate", content="\n".join(lines),
                           headers={"Content-Type": "application/yaml"})
    assert refused.status_code == 422
    assert refused.json()["detail"] == [{"field": "qualification.min_fitt", "line": at + 1, "column": 3,
                                         "reason": "not a known field (did you mean 'min_fit'?)"}]
    twice = scoring.post("/definitions/simulate", content=text + "version: again\n",
                         headers={"Content-Type": "application/yaml"})
    assert twice.status_code == 422
    assert twice.json()["detail"][0]["reason"].startswith("version: written twice (first at line ")
