"""Health: no login, so load balancers and monitors can ask."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from api.context import Context
from api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut,
            responses={503: {"model": HealthOut, "description": "degraded"}})
async def health(ctx: Context) -> JSONResponse:
    """The controller's components and counters; HTTP 503 unless the status is ``ok``."""
    body = HealthOut.model_validate(await ctx.health.health())
    code = status.HTTP_200_OK if body.status == "ok" else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(body.model_dump(mode="json"), status_code=code)
