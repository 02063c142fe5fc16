"""The triage queue, alert detail, screenshots, live updates and triage actions (pages and JSON API)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Sequence

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from PIL import Image, ImageFilter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from console.alerts import service
from console.alerts.models import Alert, AlertRead, AlertStatus, AssignRequest, RuleQuality, TriageDecision, TriageRequest
from console.audit.service import record
from console.dependencies import get_session, get_settings
from console.escalation import service as escalation
from console.events.models import Screenshot
from console.people.auth import csrf_protect, require_roles, visible_school_ids
from console.people.models import Role, User
from console.schools.models import School
from console.settings import Settings
from console.store import utcnow
from console.templating import templates
from console.web.scope import visible_or_404

api = APIRouter(prefix="/api/alerts", tags=["alerts"], dependencies=[Depends(csrf_protect)])
pages = APIRouter(prefix="/alerts", include_in_schema=False, dependencies=[Depends(csrf_protect)])

readers = require_roles(Role.admin, Role.officer, Role.dsl)
triagers = require_roles(Role.admin, Role.officer)
# A live connection ends after this long and the browser reconnects (EventSource does so by itself,
# resuming from the last id), so that no request outlives a server shutdown by much.
STREAM_SECONDS = 20.0
STREAM_POLL_SECONDS = 1.0


def _visible_alert(session: Session, user: User, alert_id: int) -> Alert:
    """The alert, or 404 if it does not exist or is outside the user's schools (which is not admitted)."""
    alert = service.get(session=session, alert_id=alert_id)
    return visible_or_404(session, user, alert, f"no alert {alert_id}")


def _visible_alerts(session: Session, user: User, alert_ids: Sequence[int]) -> list[Alert]:
    return [_visible_alert(session, user, alert_id) for alert_id in dict.fromkeys(alert_ids)]


def _assignees(session: Session, school_id: int) -> list[User]:
    """Officers working the school's console, and admins."""
    school = session.get_one(School, school_id)
    users = session.scalars(select(User).where(User.active, User.role.in_([Role.officer, Role.admin])))
    return [u for u in users if u.role == Role.admin or school.phase in u.console_phases]


def _filters(
    school: int | None = None,
    category: str | None = None,
    min_risk: int | None = Query(None, ge=1, le=5),
    status: AlertStatus | None = AlertStatus.new,
    assigned_to: int | None = None,
) -> service.QueueFilters:
    return service.QueueFilters(
        school_id=school, category=category or None, min_risk=min_risk, status=status, assigned_to_id=assigned_to
    )


def _triage(session: Session, user: User, alert_id: int, body: TriageRequest) -> list[Alert]:
    alerts = _visible_alerts(session, user, [alert_id, *body.also])
    try:
        for alert in alerts:
            service.triage(alert=alert, decision=body.decision, reason=body.reason, actor=user.username)
    except service.TriageError as error:
        raise HTTPException(422, str(error)) from error
    for alert in alerts:
        record(session=session, actor=user.username, action="triage", object_type="alert", object_id=alert.id,
               detail={"decision": body.decision.value, "reason": body.reason.strip()})
    return alerts


def _assign(session: Session, user: User, alert_id: int, assignee_id: int | None) -> Alert:
    alert = _visible_alert(session, user, alert_id)
    if assignee_id is not None and assignee_id not in {u.id for u in _assignees(session, alert.school_id)}:
        raise HTTPException(422, f"user {assignee_id} is not an officer working this school's console")
    service.assign(alert=alert, user_id=assignee_id)
    record(session=session, actor=user.username, action="assign", object_type="alert", object_id=alert.id,
           detail={"assigned_to_id": assignee_id})
    return alert


# --- JSON API -------------------------------------------------------------------------------------------


@api.get("", response_model=list[AlertRead])
def list_alerts(
    filters: service.QueueFilters = Depends(_filters),
    user: User = Depends(readers),
    session: Session = Depends(get_session),
) -> list[Alert]:
    """Alerts in the caller's schools, highest risk then oldest first (status defaults to new)."""
    return service.list_alerts(
        session=session, school_ids=visible_school_ids(user, session), status=filters.status,
        category=filters.category, min_risk=filters.min_risk, school_id=filters.school_id,
        assigned_to_id=filters.assigned_to_id,
    )


@api.get("/quality", response_model=list[RuleQuality])
def quality(user: User = Depends(readers), session: Session = Depends(get_session)) -> list[RuleQuality]:
    """Per rule: triaged alerts and how many were false positives."""
    return service.rule_quality(session=session, school_ids=visible_school_ids(user, session))


@api.get("/{alert_id}", response_model=AlertRead)
def read_alert(alert_id: int, user: User = Depends(readers), session: Session = Depends(get_session)) -> Alert:
    alert = _visible_alert(session, user, alert_id)
    record(session=session, actor=user.username, action="view", object_type="alert", object_id=alert.id)
    return alert


@api.post("/{alert_id}/triage", response_model=list[AlertRead])
def triage_alert(
    alert_id: int, body: TriageRequest, user: User = Depends(triagers), session: Session = Depends(get_session)
) -> list[Alert]:
    """Decide an alert (and ``also`` others): false positive (with a reason), no concern, or monitor."""
    return _triage(session, user, alert_id, body)


@api.post("/{alert_id}/assign", response_model=AlertRead)
def assign_alert(
    alert_id: int, body: AssignRequest, user: User = Depends(triagers), session: Session = Depends(get_session)
) -> Alert:
    return _assign(session, user, alert_id, body.user_id)


# --- pages ----------------------------------------------------------------------------------------------


@pages.get("", response_class=HTMLResponse)
def queue_page(
    request: Request,
    filters: service.QueueFilters = Depends(_filters),
    user: User = Depends(readers),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    visible = visible_school_ids(user, session)
    schools_query = select(School).order_by(School.name)
    if visible is not None:
        schools_query = schools_query.where(School.id.in_(visible))
    officers = session.scalars(select(User).where(User.role.in_([Role.officer, Role.admin])).order_by(User.username))
    partial = "hx-request" in request.headers
    # The top of each role's landing page: officers see escalations nobody acknowledged in time, a DSL the
    # incidents at their school still waiting for an acknowledgement.
    now = utcnow()
    overdue = (escalation.overdue(session=session, now=now, school_ids=visible)
               if not partial and user.role in (Role.admin, Role.officer) else None)
    awaiting = (escalation.awaiting_acknowledgement(session=session, school_ids=visible)
                if not partial and user.role == Role.dsl else None)
    return templates.TemplateResponse(
        request,
        "alerts/_queue.html" if partial else "alerts/list.html",
        {
            "escalations": overdue,
            "awaiting": awaiting,
            "now": now,
            "groups": service.queue(session=session, school_ids=visible, filters=filters),
            "filters": filters,
            "schools": {school.id: school for school in session.scalars(schools_query)},
            "categories": service.categories(session=session),
            "statuses": list(AlertStatus),
            "officers": {officer.id: officer for officer in officers},
            "latest_id": service.latest_id(session=session, school_ids=visible),
            "can_triage": user.role in (Role.admin, Role.officer),
        },
    )


def _newest_alert_id(sessions: sessionmaker[Session], school_ids: list[int] | None) -> int:
    with sessions() as session:
        return service.latest_id(session=session, school_ids=school_ids)


@pages.get("/stream")
async def live_updates(
    request: Request, after: int | None = None, user: User = Depends(readers), session: Session = Depends(get_session)
) -> StreamingResponse:
    """Server-sent events: an ``alert`` event with the newest id whenever alerts arrive in the user's schools."""
    school_ids = visible_school_ids(user, session)
    resume = request.headers.get("last-event-id", "")
    last = int(resume) if resume.isdigit() else after
    if last is None:
        last = service.latest_id(session=session, school_ids=school_ids)
    sessions: sessionmaker[Session] = request.app.state.sessions

    async def events(last: int) -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        deadline = time.monotonic() + STREAM_SECONDS
        while time.monotonic() < deadline and not await request.is_disconnected():
            newest = await asyncio.to_thread(_newest_alert_id, sessions, school_ids)
            if newest > last:
                last = newest
                yield f"id: {last}\nevent: alert\ndata: {last}\n\n"
            else:
                yield ": idle\n\n"
            await asyncio.sleep(STREAM_POLL_SECONDS)

    return StreamingResponse(
        events(last), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


@pages.get("/quality", response_class=HTMLResponse)
def quality_page(request: Request, user: User = Depends(readers), session: Session = Depends(get_session)) -> HTMLResponse:
    rows = service.rule_quality(session=session, school_ids=visible_school_ids(user, session))
    return templates.TemplateResponse(request, "alerts/quality.html", {"rows": rows})


@pages.get("/{alert_id}", response_class=HTMLResponse)
def alert_detail_page(
    alert_id: int, request: Request, user: User = Depends(readers), session: Session = Depends(get_session)
) -> HTMLResponse:
    alert = _visible_alert(session, user, alert_id)
    record(session=session, actor=user.username, action="view", object_type="alert", object_id=alert.id)
    shots = service.screenshots(session=session, alert=alert)
    explicit = service.is_explicit(alert, settings=request.app.state.settings)
    revealed = service.revealed_ids(session=session, username=user.username, screenshot_ids=[s.id for s in shots])
    return templates.TemplateResponse(
        request,
        "alerts/detail.html",
        {
            "alert": alert,
            "school": session.get(School, alert.school_id),
            "context": service.context_events(session=session, alert=alert),
            "history": service.pupil_history(session=session, alert=alert),
            "screenshots": [(shot, explicit and shot.id not in revealed) for shot in shots],
            "group_ids": [other.id for other in service.group_of(session=session, alert=alert)],
            "assignees": _assignees(session, alert.school_id),
            "decisions": list(TriageDecision),
            "can_triage": user.role in (Role.admin, Role.officer),
        },
    )


def _blurred(image: bytes) -> bytes:
    with Image.open(io.BytesIO(image)) as original:
        small = original.convert("RGB")
        small.thumbnail((480, 480))
        output = io.BytesIO()
        small.filter(ImageFilter.GaussianBlur(radius=18)).save(output, format="PNG")
        return output.getvalue()


def _visible_screenshot(
    session: Session, user: User, alert_id: int, screenshot_id: int
) -> tuple[Alert, Screenshot]:
    """The alert and its screenshot, or 404 if either is missing or outside the user's schools."""
    alert = _visible_alert(session, user, alert_id)
    shot = service.screenshot_of(session=session, alert=alert, screenshot_id=screenshot_id)
    if shot is None:
        raise HTTPException(404, f"alert {alert_id} has no screenshot {screenshot_id}")
    return alert, shot


@pages.get("/{alert_id}/screenshots/{screenshot_id}")
def screenshot_image(
    alert_id: int, screenshot_id: int, user: User = Depends(readers), session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    """The screenshot; for explicit categories a blurred copy until this user has revealed it."""
    alert, shot = _visible_screenshot(session, user, alert_id, screenshot_id)
    headers = {"Cache-Control": "no-store"}
    if service.is_explicit(alert, settings=settings) and not service.revealed_ids(
        session=session, username=user.username, screenshot_ids=[shot.id]
    ):
        return Response(_blurred(shot.image), media_type="image/png", headers=headers)
    record(session=session, actor=user.username, action="view", object_type="screenshot", object_id=shot.id,
           detail={"alert_id": alert.id})
    return Response(shot.image, media_type=f"image/{shot.format}", headers=headers)


@pages.post("/{alert_id}/screenshots/{screenshot_id}/reveal")
def reveal_screenshot(
    alert_id: int,
    screenshot_id: int,
    reason: str = Form(...),
    user: User = Depends(readers),
    session: Session = Depends(get_session),
) -> Response:
    alert, shot = _visible_screenshot(session, user, alert_id, screenshot_id)
    if not reason.strip():
        raise HTTPException(422, "say why you need to see this screenshot")
    record(session=session, actor=user.username, action=service.REVEAL_ACTION, object_type="screenshot",
           object_id=shot.id, detail={"alert_id": alert.id, "reason": reason.strip()})
    return RedirectResponse(f"/alerts/{alert.id}#screenshot-{shot.id}", status_code=303)


@pages.post("/{alert_id}/triage")
def triage_form(
    alert_id: int,
    decision: TriageDecision = Form(...),
    reason: str = Form(""),
    also: list[int] = Form([]),
    user: User = Depends(triagers),
    session: Session = Depends(get_session),
) -> Response:
    _triage(session, user, alert_id, TriageRequest(decision=decision, reason=reason, also=also))
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@pages.post("/{alert_id}/assign")
def assign_form(
    alert_id: int, assignee: str = Form(""), user: User = Depends(triagers), session: Session = Depends(get_session)
) -> Response:
    if assignee not in ("", "me") and not assignee.isdigit():
        raise HTTPException(422, "assignee must be a user id, 'me', or empty to unassign")
    assignee_id = user.id if assignee == "me" else int(assignee) if assignee else None
    _assign(session, user, alert_id, assignee_id)
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)
