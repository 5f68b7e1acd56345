"""The routing policy: the one in force, its versions, publishing a whole policy (RevOps),
and previews that decide without assigning (a candidate over the stored leads, one lead)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, status

from services.routing.api.dependencies import Reads, RouterDep
from services.routing.api.models import Decision, PolicyPreviewView, PreviewLead
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.preview import PolicyPreview
from services.routing.use_cases.policy_changes import publish_policy
from services.routing.use_cases.previews import preview_candidate, preview_lead
from shared.errors import NotFound
from shared.events.envelope import utcnow
from shared.reviewed_documents import DOCUMENT_VERSION_MAX
from shared.service.access import READERS, RevOps, guarded_router, record_before
from shared.service.documents import Published, PublishedVersion, document_body, document_body_openapi
from shared.service.errors import error_responses

router = guarded_router(tags=["routing policy"])

Candidate = Annotated[RoutingPolicy, Depends(document_body(RoutingPolicy))]
VersionPath = Annotated[str, Path(min_length=1, max_length=DOCUMENT_VERSION_MAX, pattern=r"^[^\x00-\x1f\x7f]+$",
                                  examples=["2026-11-30.1"])]
DOCUMENT = document_body_openapi(RoutingPolicy, description="A routing policy, as JSON or YAML "
                                                            "(config/routing_policy.yaml is an example)")


@router.get("/policy", dependencies=[READERS], response_model=RoutingPolicy, summary="The routing policy in force")
async def active_policy(router: RouterDep) -> RoutingPolicy:
    return router.policy


@router.get("/policies", dependencies=[READERS], response_model=list[PublishedVersion], responses=error_responses(503),
            summary="Every published version of the routing policy, newest first")
async def policy_versions(router: RouterDep) -> list[dict[str, Any]]:
    return await router.store.versions()


@router.get("/policies/{version}", response_model=RoutingPolicy, responses=error_responses(404, 422, 503),
            dependencies=[READERS],
            summary="One published version of the routing policy")
async def policy_version(version: VersionPath, router: RouterDep) -> dict[str, Any]:
    body = await router.store.get(version)
    if body is None:
        raise NotFound(f"no routing policy version {version!r} was published")
    return body


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
             summary="Route every stored lead under a candidate policy, without assigning anything")
async def preview(candidate: Candidate, reads: Reads,
                  sample_size: Annotated[int, Query(ge=0, le=200, description="leads shown in samples")] = 20,
                  ) -> PolicyPreview:
    return await preview_candidate(reads, candidate, now=utcnow(), sample_size=sample_size)


@router.post("/preview", dependencies=[READERS], response_model=Decision, responses=error_responses(400, 413, 422, 503),
             summary="Who would get this lead now, and why: the whole decision, nothing assigned")
async def preview_one(lead: PreviewLead, router: RouterDep, reads: Reads) -> dict[str, Any]:
    facts = LeadFacts.from_attributes("preview", lead.model_dump(exclude_none=True))
    return (await preview_lead(router, reads, facts, utcnow())).to_dict()
