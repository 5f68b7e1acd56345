"""The lead definition: its versions (as JSON or as the YAML file), the active one, the diff
between two, publishing a new one or bringing an earlier one back (RevOps), and simulating
a candidate over the stored leads before anyone publishes it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, status

from services.scoring.api.dependencies import Definitions, Reads, Resources
from services.scoring.api.models import Simulation, Sweep
from services.scoring.domain.definition import LeadDefinition
from services.scoring.use_cases.definitions import (
    activate_definition,
    publish_definition,
    simulate_definition,
    sweep_progress,
)
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

router = guarded_router(tags=["lead definition"])

Candidate = Annotated[LeadDefinition, Depends(document_body(LeadDefinition))]
VersionPath = Annotated[str, version_path("2026-12-02.1")]
WHAT = "Handoff lead definition"
DOCUMENT = document_body_openapi(LeadDefinition, description="A lead definition, as JSON or YAML "
                                                             "(config/lead_definition.yaml is an example)")


@router.get("/definitions", response_model=list[PublishedVersion], responses=error_responses(503),
            dependencies=[READERS],
            summary="Every published version of the lead definition, newest first")
async def definition_versions(definitions: Definitions) -> list[dict[str, Any]]:
    return await definitions.versions()


@router.get("/definitions/active", response_model=LeadDefinition, responses=document_responses(LeadDefinition),
            dependencies=[READERS], summary="The lead definition in force (JSON, or the YAML file)")
async def active_definition(definitions: Definitions, request: Request) -> Any:
    return as_requested(definitions.active.model_dump(mode="json"), LeadDefinition, request, WHAT)


@router.get("/definitions/active/sweep", response_model=Sweep, responses=error_responses(503),
            dependencies=[READERS], summary="How far re-scoring every lead under the definition in force has come")
async def sweep(definitions: Definitions, reads: Reads) -> Sweep:
    """After a publication or a rollback every stored lead is re-scored in the background;
    ``finished`` once each lead carries a score under the version in force."""
    progress = await sweep_progress(reads, definitions)
    return Sweep(version=progress.version, leads=progress.leads, rescored=progress.rescored,
                 remaining=max(progress.leads - progress.rescored, 0), finished=progress.finished)


@router.get("/definitions/diff", response_model=VersionDiff, responses=error_responses(404, 422, 503),
            dependencies=[READERS], summary="What changed between two versions of the lead definition, field by field")
async def definition_diff(definitions: Definitions, before: Annotated[str, version_query("from", "2026-12-02.1")],
                          after: Annotated[str, version_query("to", "2026-12-09.1")]) -> VersionDiff:
    return await compare_versions(definitions, LeadDefinition, before, after, "definition")


@router.get("/definitions/{version}", response_model=LeadDefinition,
            responses={**document_responses(LeadDefinition), **error_responses(404, 422, 503)},
            dependencies=[READERS], summary="One published version of the lead definition (JSON, or the YAML file)")
async def definition_version(version: VersionPath, definitions: Definitions, request: Request) -> Any:
    body = await definitions.get(version)
    if body is None:
        raise NotFound(f"no definition version {version!r} was published")
    return as_requested(body, LeadDefinition, request, WHAT)


@router.post("/definitions", status_code=status.HTTP_201_CREATED, response_model=Published,
             responses=error_responses(400, 401, 403, 409, 413, 422, 503), openapi_extra=DOCUMENT,
             summary="Publish a lead definition (RevOps): it applies at once and every lead is re-scored")
async def publish(actor: RevOps, candidate: Candidate, resources: Resources, request: Request) -> Published:
    record_before(request, {"active_version": resources.definitions.active.version})
    await publish_definition(resources.definitions, candidate, published_by=actor,
                             rescore_now=resources.rescorer.wake)
    return Published(version=candidate.version, active=True)


@router.post("/definitions/{version}/activate", status_code=status.HTTP_201_CREATED, response_model=Published,
             responses=error_responses(401, 403, 404, 409, 422, 503),
             summary="Bring an earlier version back (RevOps): published again as a new version, a rollback")
async def activate(version: VersionPath, actor: RevOps, resources: Resources, request: Request) -> Published:
    """The earlier version's text comes back under a new version (``<base>+rollback.<n>``) that
    records which one it brings back; it applies at once and every lead is re-scored. 409 when
    that version is in force already."""
    record_before(request, {"active_version": resources.definitions.active.version})
    document = await activate_definition(resources.definitions, version, published_by=actor,
                                         rescore_now=resources.rescorer.wake)
    return Published(version=document.version, active=True, rollback_of=version)


@router.post("/definitions/simulate", response_model=Simulation, responses=error_responses(400, 413, 422, 503),
             dependencies=[READERS],
             openapi_extra=DOCUMENT, summary="What a candidate definition would change, before anyone publishes it")
async def simulate(candidate: Candidate, definitions: Definitions, reads: Reads,
                   sample_size: Annotated[int, Query(ge=0, le=100, description="flips shown in samples")] = 10,
                   ) -> dict[str, Any]:
    report = await simulate_definition(reads, definitions.active, candidate, now=utcnow(), sample_size=sample_size)
    return report.to_dict()
