"""Health: no login, so load balancers and monitors can ask."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse

from api.schemas import HealthOut
from api.services import provide
from hall_controller.fleet.health import HealthService

Health = Annotated[HealthService, Depends(provide(HealthService))]

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut,
            responses={503: {"model": HealthOut, "description": "degraded"}})
async def health(probe: Health) -> JSONResponse:
    """The controller's components and counters; HTTP 503 unless the status is ``ok``."""
    body = HealthOut.model_validate(await probe.health())
    code = status.HTTP_200_OK if body.status == "ok" else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(body.model_dump(mode="json"), status_code=code)
