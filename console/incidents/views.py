"""Raising incidents from alerts, the incident report as a page and as a PDF, and the JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from console.audit.service import record
from console.cases.models import CaseType
from console.dependencies import get_session, get_settings
from console.escalation import service as escalation
from console.escalation.service import EscalationError
from console.incidents import flows, service
from console.incidents.models import Incident, IncidentCreate, IncidentRead
from console.incidents.service import IncidentError
from console.notify import service as notify
from console.people.auth import csrf_protect, require_roles, visible_school_ids
from console.people.models import Role, User
from console.settings import Settings
from console.store import utcnow
from console.templating import templates
from console.web.scope import visible_or_404

api = APIRouter(prefix="/api/incidents", tags=["incidents"], dependencies=[Depends(csrf_protect)])
pages = APIRouter(prefix="/incidents", include_in_schema=False, dependencies=[Depends(csrf_protect)])

readers = require_roles(Role.admin, Role.officer, Role.dsl, Role.governance)
raisers = require_roles(Role.admin, Role.officer)


def _visible(session: Session, user: User, incident_id: int) -> Incident:
    incident = service.get(session=session, incident_id=incident_id)
    return visible_or_404(session, user, incident, f"no incident {incident_id}")


def _checked_alerts(session: Session, user: User, alert_ids: list[int]):
    try:
        alerts = service.load_alerts(session=session, alert_ids=alert_ids)
    except IncidentError as error:
        raise HTTPException(422, str(error)) from None
    visible = visible_school_ids(user, session)
    if visible is not None and alerts[0].school_id not in visible:
        raise HTTPException(404, f"no alert {alerts[0].id}")
    return alerts


def _send_after_commit(request: Request, session: Session) -> None:
    """The school's webhook call and the escalation emails go once this request's transaction commits, from the
    console's sender thread."""
    request.app.state.escalation_sender.kick_after_commit(session)


def _raise(request: Request, session: Session, settings: Settings, user: User, data: IncidentCreate) -> Incident:
    _checked_alerts(session, user, data.alert_ids)
    try:
        incident = flows.raise_incident(session=session, settings=settings, data=data, actor=user.username,
                                        now=utcnow())
    except (IncidentError, EscalationError) as error:
        raise HTTPException(422, str(error)) from None
    _send_after_commit(request, session)
    return incident


def _form(request: Request, session: Session, user: User, alert_ids: list[int], error: str = "",
          values: dict | None = None, status_code: int = 200) -> HTMLResponse:
    alerts = _checked_alerts(session, user, alert_ids)
    top = max(alerts, key=lambda alert: alert.risk)
    return templates.TemplateResponse(request, "incidents/new.html", {
        "alerts": alerts,
        "evidence": service.candidate_evidence(session=session, alerts=alerts),
        "screenshots": service.candidate_screenshots(session=session, alerts=alerts),
        "case_types": list(CaseType),
        "error": error,
        "values": values or {"category": top.category, "risk": top.risk, "summary": "", "actions": ""},
    }, status_code=status_code)


@pages.get("", response_class=HTMLResponse)
def incident_list(request: Request, user: User = Depends(readers), session: Session = Depends(get_session)) -> HTMLResponse:
    incidents = service.list_incidents(session=session, school_ids=visible_school_ids(user, session))
    return templates.TemplateResponse(request, "incidents/list.html", {"incidents": incidents})


@pages.api_route("/new", methods=["GET", "POST"], response_class=HTMLResponse)
def new_incident(request: Request, alert_ids: str, user: User = Depends(raisers),
                 session: Session = Depends(get_session)) -> HTMLResponse:
    """The form, pre-filled from the alerts (the alert page posts here with ``?alert_ids=1,2``)."""
    try:
        ids = service.parse_alert_ids(alert_ids)
    except IncidentError as error:
        raise HTTPException(422, str(error)) from None
    return _form(request, session, user, ids)


@pages.post("", response_class=HTMLResponse)
def create_incident(
    request: Request,
    alert_ids: Annotated[str, Form()],
    summary: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    risk: Annotated[int, Form()] = 0,
    actions: Annotated[str, Form()] = "",
    case_type: Annotated[str, Form()] = "",
    evidence: Annotated[list[str], Form()] = [],
    screenshots: Annotated[list[int], Form()] = [],
    user: User = Depends(raisers),
    session: Session = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    try:
        ids = service.parse_alert_ids(alert_ids)
    except IncidentError as error:
        raise HTTPException(422, str(error)) from None
    _checked_alerts(session, user, ids)
    values = {"summary": summary, "category": category, "risk": risk, "actions": actions}
    try:
        data = IncidentCreate(alert_ids=ids, summary=summary.strip(), category=category, risk=risk, actions=actions,
                              evidence_keys=evidence, screenshot_ids=screenshots, case_type=case_type or None)
        with session.begin_nested():  # a refused incident leaves nothing behind
            incident = flows.raise_incident(session=session, settings=settings, data=data, actor=user.username,
                                            now=utcnow())
    except ValidationError as error:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
    except (IncidentError, EscalationError) as error:
        problem = str(error)
    else:
        _send_after_commit(request, session)
        return RedirectResponse(f"/incidents/{incident.id}", status_code=303)
    return _form(request, session, user, ids, error=problem, values=values, status_code=422)


@pages.get("/{incident_id}", response_class=HTMLResponse)
def incident_page(incident_id: int, request: Request, user: User = Depends(readers),
                  session: Session = Depends(get_session)) -> HTMLResponse:
    incident = _visible(session, user, incident_id)
    record(session=session, actor=user.username, action="view", object_type="incident", object_id=incident.id)
    escalations = escalation.for_incident(session=session, incident_id=incident.id)
    about = [("incident", incident.id)] + [("escalation", e.id) for e in escalations]
    return templates.TemplateResponse(request, "incidents/detail.html", {
        **service.report_context(session=session, incident=incident),
        "escalations": escalations,
        "deliveries": sorted((d for kind, key in about for d in notify.deliveries(session=session, object_type=kind,
                                                                                  object_id=key)),
                             key=lambda d: (d.at, d.id)),
        "webhooks_waiting": notify.webhook_messages(session=session, objects=about),
    })


@pages.get("/{incident_id}/report.pdf")
def incident_pdf(incident_id: int, user: User = Depends(readers), session: Session = Depends(get_session)) -> Response:
    incident = _visible(session, user, incident_id)
    record(session=session, actor=user.username, action="download", object_type="incident", object_id=incident.id,
           detail={"format": "pdf"})
    return Response(service.report_pdf(session=session, incident=incident), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="incident-{incident.id}.pdf"'})


@api.get("", response_model=list[IncidentRead])
def list_incidents(user: User = Depends(readers), session: Session = Depends(get_session)) -> list[Incident]:
    return service.list_incidents(session=session, school_ids=visible_school_ids(user, session))


@api.post("", response_model=IncidentRead, status_code=201)
def create_incident_api(data: IncidentCreate, request: Request, user: User = Depends(raisers),
                        session: Session = Depends(get_session), settings: Settings = Depends(get_settings)) -> Incident:
    return _raise(request, session, settings, user, data)


@api.get("/{incident_id}", response_model=IncidentRead)
def read_incident(incident_id: int, user: User = Depends(readers), session: Session = Depends(get_session)) -> Incident:
    incident = _visible(session, user, incident_id)
    record(session=session, actor=user.username, action="view", object_type="incident", object_id=incident.id)
    return incident
