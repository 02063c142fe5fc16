"""Operations endpoints: liveness, readiness and Prometheus metrics (no login: scrape from inside)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from console.metrics import CONTENT_TYPE_LATEST, exposition

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str
    problems: list[str] = []


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is alive and serving HTTP."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(request: Request) -> Health | JSONResponse:
    """Ready for traffic: agent ingest is running and the database answers."""
    problems = []
    if not request.app.state.ready:
        problems.append("agent ingest is not running (starting or shutting down)")
    try:
        with request.app.state.sessions() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        problems.append(f"database unavailable: {type(error).__name__}")
    if problems:
        return JSONResponse(Health(status="unavailable", problems=problems).model_dump(), status_code=503)
    return Health(status="ok")


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics() -> Response:
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
