"""Acknowledgement links (no sign-in: the signed link is the credential), overdue list, contacts and rules."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.audit.service import record
from console.dependencies import get_session, get_settings
from console.escalation import flows, service
from console.escalation.models import Contact, ContactCreate, Escalation, EscalationRead
from console.notify.service import LinkError, read_ack_link
from console.people.auth import csrf_protect, require_roles, visible_school_ids
from console.people.models import Role, User
from console.schools.models import School
from console.settings import Settings
from console.store import utcnow
from console.templating import templates

api = APIRouter(prefix="/api/escalations", tags=["escalation"])
pages = APIRouter(prefix="/escalation", include_in_schema=False)

officers = require_roles(Role.admin, Role.officer, Role.dsl, Role.governance)
admins = require_roles(Role.admin)


class ContactRead(ContactCreate):
    id: int
    position: int


class RuleUpdate(BaseModel):
    level: int = Field(ge=1, le=5)
    ack_minutes: int | None = Field(None, ge=1)


@pages.get("/ack/{token}", response_class=HTMLResponse)
def ack_page(token: str, request: Request, session: Session = Depends(get_session),
             settings: Settings = Depends(get_settings)) -> HTMLResponse:
    """Shows what is being acknowledged; a mail scanner fetching the link acknowledges nothing."""
    try:
        escalation_id, _contact_id = read_ack_link(settings=settings, token=token, now=utcnow())
    except LinkError as error:
        raise HTTPException(410, str(error)) from None
    escalation = service.get(session=session, escalation_id=escalation_id)
    if escalation is None:
        raise HTTPException(404, "this acknowledgement link no longer matches an escalation")
    return templates.TemplateResponse(request, "escalation/ack.html", {"escalation": escalation, "token": token})


@pages.post("/ack/{token}", response_class=HTMLResponse)
def acknowledge(token: str, request: Request, session: Session = Depends(get_session),
                settings: Settings = Depends(get_settings)) -> HTMLResponse:
    try:
        result = flows.acknowledge(session=session, settings=settings, token=token, now=utcnow())
    except LinkError as error:
        raise HTTPException(410, str(error)) from None
    except service.EscalationError as error:
        raise HTTPException(404, str(error)) from None
    return templates.TemplateResponse(request, "escalation/acknowledged.html", {"result": result})


@pages.get("/overdue", response_class=HTMLResponse)
def overdue_partial(request: Request, user: User = Depends(officers), session: Session = Depends(get_session)) -> HTMLResponse:
    """A fragment for the officers' dashboard: escalations nobody has acknowledged in time."""
    escalations = service.overdue(session=session, now=utcnow(), school_ids=visible_school_ids(user, session))
    # Not audited: the triage queue polls it every minute, and it names no pupil (incident, level, school, time).
    schools = {school.id: school for school in session.scalars(
        select(School).where(School.id.in_({e.school_id for e in escalations})))}
    return templates.TemplateResponse(request, "escalation/overdue.html",
                                      {"escalations": escalations, "schools": schools, "now": utcnow()})


@api.get("/overdue", response_model=list[EscalationRead])
def overdue(user: User = Depends(officers), session: Session = Depends(get_session)) -> list[Escalation]:
    return service.overdue(session=session, now=utcnow(), school_ids=visible_school_ids(user, session))


def _existing_school(session: Session, school_id: int) -> int:
    if session.get(School, school_id) is None:
        raise HTTPException(404, f"no school {school_id}")
    return school_id


@api.get("/schools/{school_id}/contacts", response_model=list[ContactRead])
def read_contacts(school_id: int, user: User = Depends(admins), session: Session = Depends(get_session)) -> list[Contact]:
    return service.contacts(session=session, school_id=_existing_school(session, school_id))


@api.put("/schools/{school_id}/contacts", response_model=list[ContactRead], dependencies=[Depends(csrf_protect)])
def replace_contacts(school_id: int, contacts: list[ContactCreate], user: User = Depends(admins),
                     session: Session = Depends(get_session)) -> list[Contact]:
    try:
        return service.set_contacts(session=session, school_id=_existing_school(session, school_id), contacts=contacts,
                                    actor=user.username, now=utcnow())
    except service.EscalationError as error:
        raise HTTPException(422, str(error)) from None


@api.put("/schools/{school_id}/rules", dependencies=[Depends(csrf_protect)])
def update_rule(school_id: int, rule: RuleUpdate, user: User = Depends(admins),
                session: Session = Depends(get_session)) -> RuleUpdate:
    try:
        service.set_rule(session=session, school_id=_existing_school(session, school_id), level=rule.level,
                         ack_minutes=rule.ack_minutes, actor=user.username, now=utcnow())
    except service.EscalationError as error:
        raise HTTPException(422, str(error)) from None
    return rule
