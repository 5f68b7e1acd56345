"""Per rule: how leads that matched it were accepted and won, against those that did not."""

from __future__ import annotations

from fastapi import APIRouter

from services.scoring.api.dependencies import Definitions, Reads
from services.scoring.api.models import Calibration, RuleCalibration
from services.scoring.domain.calibration import calibrate
from shared.service.errors import error_responses

router = APIRouter(tags=["calibration"])


@router.get("/calibration", response_model=Calibration, responses=error_responses(503),
            summary="How each rule's leads converted, from the outcomes sales reported")
async def calibration(definitions: Definitions, reads: Reads) -> Calibration:
    definition = definitions.active
    leads = await reads.calibration_leads()
    return Calibration(definition_version=definition.version, leads_with_outcomes=len(leads),
                       rules=[RuleCalibration.model_validate(r) for r in calibrate(definition, leads)])
