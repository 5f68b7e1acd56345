"""The lead definition: its versions, the active one, publishing a new one (RevOps) and
simulating a candidate over the stored leads before anyone publishes it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, status

from services.scoring.api.dependencies import Definitions, Reads, Resources
from services.scoring.api.models import Simulation
from services.scoring.domain.definition import LeadDefinition
from services.scoring.use_cases.definitions import publish_definition, simulate_definition
from shared.errors import NotFound
from shared.events.envelope import utcnow
from shared.reviewed_documents import DOCUMENT_VERSION_MAX
from shared.service.access import READERS, RevOps, guarded_router, record_before
from shared.service.documents import Published, PublishedVersion, document_body, document_body_openapi
from shared.service.errors import error_responses

router = guarded_router(tags=["lead definition"])

Candidate = Annotated[LeadDefinition, Depends(document_body(LeadDefinition))]
VersionPath = Annotated[str, Path(min_length=1, max_length=DOCUMENT_VERSION_MAX, pattern=r"^[^\x00-\x1f\x7f]+$",
                                  examples=["2026-12-02.1"])]
DOCUMENT = document_body_openapi(LeadDefinition, description="A lead definition, as JSON or YAML "
                                                             "(config/lead_definition.yaml is an example)")


@router.get("/definitions", response_model=list[PublishedVersion], responses=error_responses(503),
            dependencies=[READERS],
            summary="Every published version of the lead definition, newest first")
async def definition_versions(definitions: Definitions) -> list[dict[str, Any]]:
    return await definitions.versions()


@router.get("/definitions/active", response_model=LeadDefinition, summary="The lead definition in force",
            dependencies=[READERS])
async def active_definition(definitions: Definitions) -> LeadDefinition:
    return definitions.active


@router.get("/definitions/{version}", response_model=LeadDefinition, responses=error_responses(404, 422, 503),
            dependencies=[READERS],
            summary="One published version of the lead definition")
async def definition_version(version: VersionPath, definitions: Definitions) -> dict[str, Any]:
    body = await definitions.get(version)
    if body is None:
        raise NotFound(f"no definition version {version!r} was published")
    return body


@router.post("/definitions", status_code=status.HTTP_201_CREATED, response_model=Published,
             responses=error_responses(400, 401, 403, 409, 413, 422, 503), openapi_extra=DOCUMENT,
             summary="Publish a lead definition (RevOps): it applies at once and every lead is re-scored")
async def publish(actor: RevOps, candidate: Candidate, resources: Resources, request: Request) -> Published:
    record_before(request, {"active_version": resources.definitions.active.version})
    await publish_definition(resources.definitions, candidate, published_by=actor,
                             rescore_now=resources.rescorer.wake)
    return Published(version=candidate.version, active=True)


@router.post("/definitions/simulate", response_model=Simulation, responses=error_responses(400, 413, 422, 503),
             dependencies=[READERS],
             openapi_extra=DOCUMENT, summary="What a candidate definition would change, before anyone publishes it")
async def simulate(candidate: Candidate, definitions: Definitions, reads: Reads,
                   sample_size: Annotated[int, Query(ge=0, le=100, description="flips shown in samples")] = 10,
                   ) -> dict[str, Any]:
    report = await simulate_definition(reads, definitions.active, candidate, now=utcnow(), sample_size=sample_size)
    return report.to_dict()
