"""The routing policy: the one in force, its versions (as JSON or as the YAML file), the diff
between two, publishing a whole policy or bringing an earlier one back (RevOps), and
previews that decide without assigning (a candidate over the open leads, one lead)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request, status
from fastapi.responses import StreamingResponse

from services.routing.api.dependencies import Reads, RouterDep, StreamReads
from services.routing.api.models import Decision, PolicyPreviewView, PreviewLead
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.preview import LeadMove, PolicyPreview
from services.routing.use_cases.policy_changes import activate_policy, publish_policy
from services.routing.use_cases.previews import CandidatePreview, preview_candidate, preview_lead
from shared.errors import NotFound
from shared.events.envelope import utcnow
from shared.service.access import READERS, RevOps, guarded_router, record_before
from shared.service.documents import (
    Published,
    PublishedVersion,
    VersionDiff,
    as_requested,
    compare_versions,
    document_body,
    document_body_openapi,
    document_responses,
    version_path,
    version_query,
)
from shared.service.errors import error_responses

router = guarded_router(tags=["routing policy"])

NDJSON = "application/x-ndjson"
NDJSON_DESCRIPTION = ("one JSON object per line: {\"type\": \"lead\", ...} for each open lead (lead_id, email, "
                      "cycle, change, today, candidate, rule, reason), {\"type\": \"progress\", \"done\", "
                      "\"total\"} after each page, and {\"type\": \"summary\", ...} last (the /policies/preview "
                      "answer with no samples); a stream without the summary line was cut short")
SampleSize = Annotated[int, Query(ge=0, le=200, description="leads shown per kind of change")]
Candidate = Annotated[RoutingPolicy, Depends(document_body(RoutingPolicy))]
VersionPath = Annotated[str, version_path("2026-11-30.1")]
WHAT = "Handoff routing policy"
DOCUMENT = document_body_openapi(RoutingPolicy, description="A routing policy, as JSON or YAML "
                                                            "(config/routing_policy.yaml is an example)")


@router.get("/policy", dependencies=[READERS], response_model=RoutingPolicy,
            responses=document_responses(RoutingPolicy), summary="The routing policy in force (JSON, or the YAML file)")
async def active_policy(router: RouterDep, request: Request) -> Any:
    return as_requested(router.policy.model_dump(mode="json"), RoutingPolicy, request, WHAT)


@router.get("/policies", dependencies=[READERS], response_model=list[PublishedVersion], responses=error_responses(503),
            summary="Every published version of the routing policy, newest first")
async def policy_versions(router: RouterDep) -> list[dict[str, Any]]:
    return await router.store.versions()


@router.get("/policies/diff", response_model=VersionDiff, responses=error_responses(404, 422, 503),
            dependencies=[READERS], summary="What changed between two versions of the routing policy, field by field")
async def policy_diff(router: RouterDep, before: Annotated[str, version_query("from", "2026-11-30.1")],
                      after: Annotated[str, version_query("to", "2026-12-04.1")]) -> VersionDiff:
    return await compare_versions(router.store, RoutingPolicy, before, after, "routing policy")


@router.get("/policies/{version}", response_model=RoutingPolicy,
            responses={**document_responses(RoutingPolicy), **error_responses(404, 422, 503)},
            dependencies=[READERS], summary="One published version of the routing policy (JSON, or the YAML file)")
async def policy_version(version: VersionPath, router: RouterDep, request: Request) -> Any:
    body = await router.store.get(version)
    if body is None:
        raise NotFound(f"no routing policy version {version!r} was published")
    return as_requested(body, RoutingPolicy, request, WHAT)


@router.post("/policies/{version}/activate", status_code=status.HTTP_201_CREATED, response_model=Published,
             responses=error_responses(401, 403, 404, 409, 422, 503),
             summary="Bring an earlier version back (RevOps): published again as a new version, a rollback")
async def activate(version: VersionPath, actor: RevOps, router: RouterDep, request: Request) -> Published:
    """The earlier version's text comes back under a new version (``<base>+rollback.<n>``) that
    records which one it brings back; the next decision uses it. 409 when that version is in
    force already."""
    record_before(request, {"active_version": router.store.active.version})
    policy = await activate_policy(router, version, published_by=actor)
    return Published(version=policy.version, active=True, rollback_of=version)


@router.post("/policies", status_code=status.HTTP_201_CREATED, response_model=Published,
             responses=error_responses(400, 401, 403, 409, 413, 422, 503), openapi_extra=DOCUMENT,
             summary="Publish a whole routing policy (RevOps); it applies to the next decision")
async def publish(actor: RevOps, candidate: Candidate, router: RouterDep, request: Request) -> Published:
    record_before(request, {"active_version": router.store.active.version})
    await publish_policy(router, candidate, published_by=actor)
    return Published(version=candidate.version, active=True)


@router.post("/policies/preview", response_model=PolicyPreviewView, responses=error_responses(400, 413, 422, 503),
             dependencies=[READERS],
             openapi_extra=DOCUMENT,
             summary="Route the leads open now under a candidate policy, against today's owners, without assigning")
async def preview(candidate: Candidate, reads: Reads, sample_size: SampleSize = 20) -> PolicyPreview:
    """Open leads: qualified, in their current cycle, assigned and not accepted yet or waiting in a queue
    (accepted, closed and nurtured leads are not routed again). Totals of each kind of change, moves per
    owner and team, and the first leads of each kind; every lead's move is in /policies/preview/leads."""
    return await preview_candidate(reads, candidate, now=utcnow(), sample_size=sample_size)


@router.post("/policies/preview/leads", response_class=StreamingResponse, dependencies=[READERS],
             responses={200: {"description": NDJSON_DESCRIPTION, "content": {NDJSON: {"schema": {"type": "object"}}}},
                        **error_responses(400, 413, 422, 503)},
             openapi_extra=DOCUMENT,
             summary="Every open lead's move under a candidate policy, streamed as NDJSON with progress")
async def preview_leads(candidate: Candidate, reads: StreamReads) -> StreamingResponse:
    """Streamed as the leads are read, in pages, so a history of any size fits in memory and a client
    sees how far the run is: a line per lead, a progress line after each page, and the summary last."""
    run = CandidatePreview(reads, candidate, now=utcnow(), sample_size=0)
    await run.start()

    async def lines() -> AsyncIterator[bytes]:
        async for item in run.moves():
            kind = "lead" if isinstance(item, LeadMove) else "progress"
            yield orjson.dumps({"type": kind, **item.to_dict()}) + b"\n"
        summary = PolicyPreviewView.model_validate(asdict(run.result)).model_dump(mode="json")
        yield orjson.dumps({"type": "summary", **summary}) + b"\n"

    return StreamingResponse(lines(), media_type=NDJSON)


@router.post("/preview", dependencies=[READERS], response_model=Decision, responses=error_responses(400, 413, 422, 503),
             summary="Who would get this lead now, and why: the whole decision, nothing assigned")
async def preview_one(lead: PreviewLead, router: RouterDep, reads: Reads) -> dict[str, Any]:
    facts = LeadFacts.from_attributes("preview", lead.model_dump(exclude_none=True))
    return (await preview_lead(router, reads, facts, utcnow())).to_dict()
