"""Records: purge log, subject-access and statistics exports, a school's incident and case exports, webhooks."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from console.audit.service import record
from console.dependencies import get_session, get_settings
from console.notify import service as notify
from console.people.auth import csrf_protect, require_roles
from console.people.models import Role, User
from console.records import service
from console.records.service import RecordsError
from console.settings import Settings
from console.store import utcnow
from console.templating import templates
from console.web.scope import visible_school

api = APIRouter(prefix="/api/records", tags=["records"], dependencies=[Depends(csrf_protect)])
pages = APIRouter(prefix="/records", include_in_schema=False, dependencies=[Depends(csrf_protect)])

records_staff = require_roles(Role.admin, Role.governance)
exporters = require_roles(Role.admin, Role.governance, Role.dsl)
admins = require_roles(Role.admin)
Format = Literal["json", "csv"]


class WebhookUpdate(BaseModel):
    url: str
    secret: str


def _download(content: str | bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _export(rows: list[dict], fields: tuple[str, ...], fmt: Format, name: str) -> Response:
    if fmt == "csv":
        return _download(service.to_csv(rows, fields), "text/csv", f"{name}.csv")
    return _download(json.dumps(rows, indent=2, default=str), "application/json", f"{name}.json")


def _school_export(session: Session, user: User, school_id: int, fmt: Format, what: str,
                   rows_of: Callable[..., list[dict]], fields: tuple[str, ...]) -> Response:
    """One school's incidents or cases as a download, recorded in the audit log."""
    visible_school(session, user, school_id)
    rows = rows_of(session=session, school_id=school_id)
    record(session=session, actor=user.username, action="export", object_type="school", object_id=school_id,
           detail={"what": what, "format": fmt, "rows": len(rows)})
    return _export(rows, fields, fmt, f"school-{school_id}-{what}")


@pages.get("", response_class=HTMLResponse)
def records_page(request: Request, user: User = Depends(records_staff), session: Session = Depends(get_session),
                 settings: Settings = Depends(get_settings)) -> HTMLResponse:
    return templates.TemplateResponse(request, "records/index.html", {
        "runs": service.purge_runs(session=session), "retention": settings.retention_days,
        "until_age": settings.child_protection_until_age})


@api.get("/schools/{school_id}/incidents.{fmt}")
def export_incidents(school_id: int, fmt: Format, user: User = Depends(exporters),
                     session: Session = Depends(get_session)) -> Response:
    return _school_export(session, user, school_id, fmt, "incidents", service.incident_rows, service.INCIDENT_FIELDS)


@api.get("/schools/{school_id}/cases.{fmt}")
def export_cases(school_id: int, fmt: Format, user: User = Depends(exporters),
                 session: Session = Depends(get_session)) -> Response:
    return _school_export(session, user, school_id, fmt, "cases", service.case_rows, service.CASE_FIELDS)


@api.get("/subject-access")
def subject_access(school_id: int, pupil: str, user: User = Depends(records_staff),
                   session: Session = Depends(get_session)) -> Response:
    try:
        archive = service.subject_access_export(session=session, school_id=school_id, pupil=pupil,
                                                actor=user.username, now=utcnow())
    except RecordsError as error:
        raise HTTPException(404, str(error)) from None
    return _download(archive, "application/zip", f"subject-access-{school_id}-{pupil}.zip")


@api.get("/statistics.{fmt}")
def statistics(fmt: Format, start: datetime | None = None, end: datetime | None = None,
               user: User = Depends(records_staff), session: Session = Depends(get_session),
               settings: Settings = Depends(get_settings)) -> Response:
    now = utcnow()
    start = start or datetime.combine(now.date().replace(month=1, day=1), time(), UTC)
    end = end or now
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(422, "start and end need a timezone, e.g. 2026-01-01T00:00:00Z")
    try:
        rows = service.statistics(session=session, start=start, end=end, min_count=settings.statistics_min_count)
    except RecordsError as error:
        raise HTTPException(422, str(error)) from None
    record(session=session, actor=user.username, action="export", object_type="statistics", object_id="all",
           detail={"start": start.isoformat(), "end": end.isoformat()})
    return _export(rows, ("measure", "value", "count"), fmt, "statistics")


@api.post("/purge")
def purge_now(user: User = Depends(admins), session: Session = Depends(get_session),
              settings: Settings = Depends(get_settings)) -> dict:
    run = service.purge(session=session, settings=settings, now=utcnow(), actor=user.username,
                        date_of_birth=service.register_date_of_birth(session))
    return {"id": run.id, "counts": run.counts, "kept": run.kept}


@api.put("/schools/{school_id}/webhook")
def set_webhook(school_id: int, body: WebhookUpdate, user: User = Depends(admins),
                session: Session = Depends(get_session)) -> dict:
    try:
        webhook = notify.set_webhook(session=session, school_id=school_id, url=body.url, secret=body.secret)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    record(session=session, actor=user.username, action="webhook.set", object_type="school", object_id=school_id,
           detail={"url": webhook.url})
    return {"school_id": school_id, "url": webhook.url}
