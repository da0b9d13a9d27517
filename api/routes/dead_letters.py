"""Dead letters: messages the controller could not accept, with the reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import Facilities
from api.params import Limit
from api.schemas import DeadLetterOut, DeadLetterSummaryOut
from api.services import provide
from hall_controller.fleet.views import FleetViews

Fleet = Annotated[FleetViews, Depends(provide(FleetViews))]
router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


@router.get("", response_model=list[DeadLetterOut])
async def list_dead_letters(
    fleet: Fleet, _: Facilities,
    limit: Limit = 100,
    device_id: Annotated[str | None, Query(max_length=63, description="only this device's")]
    = None,
) -> list[DeadLetterOut]:
    """Refused messages, newest first, with a preview of the payload."""
    letters = await fleet.dead_letters(limit=limit, device_id=device_id)
    return [DeadLetterOut.build(d) for d in letters]


@router.get("/summary", response_model=DeadLetterSummaryOut)
async def dead_letter_summary(fleet: Fleet, _: Facilities) -> DeadLetterSummaryOut:
    """How many messages were refused, by reason (e.g. ``invalid_json``, ``too_large``)."""
    counts = await fleet.dead_letter_counts()
    return DeadLetterSummaryOut(total=sum(counts.values()), by_reason=counts)
