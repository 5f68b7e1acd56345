"""Per rule: how leads that matched it were accepted and won, against those that did not; per grade cell."""

from __future__ import annotations

from services.scoring.api.dependencies import Definitions, Reads
from services.scoring.api.models import Calibration, CellCalibration, RuleCalibration
from services.scoring.domain.calibration import calibrate, calibrate_cells
from shared.service.access import READERS, guarded_router
from shared.service.errors import error_responses

router = guarded_router(tags=["calibration"])


@router.get("/calibration", dependencies=[READERS], response_model=Calibration, responses=error_responses(503),
            summary="How each rule's leads converted, from the outcomes sales reported")
async def calibration(definitions: Definitions, reads: Reads) -> Calibration:
    definition = definitions.active
    leads = await reads.calibration_leads()
    return Calibration(definition_version=definition.version, leads_with_outcomes=len(leads),
                       rules=[RuleCalibration.model_validate(r) for r in calibrate(definition, leads)],
                       cells=[CellCalibration.model_validate(c) for c in calibrate_cells(leads)])
