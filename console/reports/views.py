"""Report pages, each also as PDF and CSV: /reports/<kind>/...[/pdf|/csv]."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.dependencies import get_session, get_settings
from console.people.auth import csrf_protect, require_roles, visible_school_ids
from console.people.models import Role, User
from console.reports import documents, service
from console.reports.documents import Document
from console.reports.models import MonthlyReport, StoredReport
from console.schools.models import School
from console.settings import Settings
from console.store import utcnow
from console.templating import templates
from console.web.scope import visible_school

pages = APIRouter(prefix="/reports", include_in_schema=False, dependencies=[Depends(csrf_protect)])

Format = Literal["html", "pdf", "csv"]
school_readers = require_roles(Role.admin, Role.governance, Role.officer, Role.dsl)
governance = require_roles(Role.admin, Role.governance)
rule_readers = require_roles(Role.admin, Role.governance, Role.officer)


def _tz(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.report_timezone)


def _checked(figures):
    """Run a report function, turning a bad period into a 400 that says what is wrong."""
    try:
        return figures()
    except service.ReportError as error:
        raise HTTPException(400, str(error)) from None


def _respond(
    request: Request,
    document: Document,
    fmt: Format,
    name: str,
    base: str,
    generated: str = "",
    regenerate: str = "",
) -> Response:
    if fmt == "pdf":
        return Response(
            documents.pdf(document),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    if fmt == "csv":
        return Response(
            documents.to_csv(document),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    links = [("Download PDF", f"{base}/pdf"), ("Download CSV", f"{base}/csv")]
    return templates.TemplateResponse(
        request,
        "reports/document.html",
        {"doc": document, "pdf": False, "links": links, "generated": generated, "regenerate": regenerate},
    )


@pages.get("", response_class=HTMLResponse)
def index(
    request: Request,
    user: User = Depends(school_readers),
    session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> HTMLResponse:
    tz, now = _tz(settings), utcnow()
    visible = visible_school_ids(user, session)
    query = select(School).order_by(School.name)
    if visible is not None:
        query = query.where(School.id.in_(visible))
    schools = list(session.scalars(query))
    today = now.astimezone(tz).date()
    year, week, _ = today.isocalendar()
    context = {
        "schools": schools,
        "names": {school.id: school.name for school in schools},
        "this_month": f"{today:%Y-%m}",
        "last_month": service.previous_month(now, tz),
        "week": f"{year}-W{week:02d}",
        "quarter": f"{today.year}-Q{(today.month - 1) // 3 + 1}",
        "rules_first": today - timedelta(days=30),
        "rules_last": today,
        "stored": service.list_stored(session=session, school_ids=visible),
        "role": user.role,
    }
    return templates.TemplateResponse(request, "reports/index.html", context)


def _monthly_stored(
    session: Session, settings: Settings, school_id: int, month: str, user: User, regenerate: bool
) -> StoredReport | None:
    """The stored report of an ended month (made now if missing); None for the month in progress."""
    tz = _tz(settings)
    _, end = _checked(lambda: service.month_bounds(month, tz))
    if end > utcnow():
        return None
    stored = service.get_stored(session=session, school_id=school_id, month=month)
    if stored is None or regenerate:
        stored = service.generate_monthly(
            session=session, school_id=school_id, month=month, tz=tz, generated_by=user.username
        )
    return stored


@pages.get("/monthly/{school_id}/{month}", response_class=HTMLResponse)
@pages.get("/monthly/{school_id}/{month}/{fmt}")
def monthly(
    request: Request,
    school_id: int,
    month: str,
    fmt: Format = "html",
    user: User = Depends(school_readers),
    session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    visible_school(session, user, school_id)
    stored = _monthly_stored(session, settings, school_id, month, user, regenerate=False)
    if stored is None:
        report = service.monthly(session=session, school_id=school_id, month=month, tz=_tz(settings))
        generated, regenerate = "now: the month is still in progress, so these figures are month to date", ""
    else:
        report = MonthlyReport.model_validate(stored.figures)
        generated = f"{stored.generated_at.astimezone(_tz(settings)):%d %B %Y %H:%M} by {stored.generated_by}"
        regenerate = f"/reports/monthly/{school_id}/{month}/regenerate"
    document = documents.monthly_document(report)
    base = f"/reports/monthly/{school_id}/{month}"
    return _respond(request, document, fmt, f"monthly-{school_id}-{month}", base, generated, regenerate)


@pages.post("/monthly/{school_id}/{month}/regenerate")
def regenerate_monthly(
    school_id: int,
    month: str,
    user: User = Depends(school_readers),
    session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> RedirectResponse:
    visible_school(session, user, school_id)
    if _monthly_stored(session, settings, school_id, month, user, regenerate=True) is None:
        raise HTTPException(400, f"{month} has not ended yet: its page always shows the figures so far")
    return RedirectResponse(f"/reports/monthly/{school_id}/{month}", status_code=303)


@pages.get("/weekly/{week}", response_class=HTMLResponse)
@pages.get("/weekly/{week}/{fmt}")
def weekly(
    request: Request,
    week: str,
    fmt: Format = "html",
    user: User = Depends(governance),
    session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    tz = _tz(settings)
    report = _checked(
        lambda: service.weekly(session=session, week=week, tz=tz, today=utcnow().astimezone(tz).date())
    )
    return _respond(
        request, documents.weekly_document(report), fmt, f"live-cases-{week}", f"/reports/weekly/{week}"
    )


@pages.get("/quarterly/{quarter}", response_class=HTMLResponse)
@pages.get("/quarterly/{quarter}/{fmt}")
def quarterly(
    request: Request,
    quarter: str,
    fmt: Format = "html",
    user: User = Depends(governance),
    session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    report = _checked(lambda: service.quarterly(session=session, quarter=quarter, tz=_tz(settings)))
    return _respond(
        request,
        documents.quarterly_document(report),
        fmt,
        f"performance-{quarter}",
        f"/reports/quarterly/{quarter}",
    )


@pages.get("/rules/{first}/{last}", response_class=HTMLResponse)
@pages.get("/rules/{first}/{last}/{fmt}")
def rules(
    request: Request,
    first: date,
    last: date,
    fmt: Format = "html",
    user: User = Depends(rule_readers),
    session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    visible = visible_school_ids(user, session)
    report = _checked(
        lambda: service.rule_quality(
            session=session, first=first, last=last, tz=_tz(settings), school_ids=visible
        )
    )
    return _respond(
        request,
        documents.rules_document(report),
        fmt,
        f"rule-quality-{first}-{last}",
        f"/reports/rules/{first}/{last}",
    )
