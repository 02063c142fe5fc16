"""Webhook calls a school's case system has not received: the officers' dashboard panel, the list, and sending a
given-up call again or dismissing it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.dependencies import get_session
from console.notify import service
from console.notify.models import WebhookMessage
from console.people.auth import csrf_protect, require_roles, visible_school_ids
from console.people.models import Role, User
from console.schools.models import School
from console.store import utcnow
from console.templating import templates

pages = APIRouter(prefix="/webhooks", include_in_schema=False, dependencies=[Depends(csrf_protect)])

readers = require_roles(Role.admin, Role.officer, Role.dsl)
senders = require_roles(Role.admin, Role.officer)


def _context(session: Session, user: User) -> dict:
    messages = service.failing_webhooks(session=session, school_ids=visible_school_ids(user, session))
    schools = {school.id: school for school in session.scalars(
        select(School).where(School.id.in_({message.school_id for message in messages})))}
    by_school: dict[int, list[WebhookMessage]] = {}
    for message in messages:
        by_school.setdefault(message.school_id, []).append(message)
    return {"messages": messages, "schools": schools, "by_school": by_school, "now": utcnow(),
            "may_send": user.role in senders.roles}


@pages.get("/failing", response_class=HTMLResponse)
def failing_partial(request: Request, user: User = Depends(readers), session: Session = Depends(get_session)) -> HTMLResponse:
    """A fragment for the officers' dashboard: schools whose case system is not receiving our webhook calls.
    Not audited: the triage queue polls it, and it names no pupil (school, event, incident number, error)."""
    return templates.TemplateResponse(request, "notify/failing.html", _context(session, user))


@pages.get("", response_class=HTMLResponse)
def failing_page(request: Request, user: User = Depends(readers), session: Session = Depends(get_session)) -> HTMLResponse:
    return templates.TemplateResponse(request, "notify/list.html", _context(session, user))


def _act(request: Request, user: User, session: Session, message_id: int, action) -> RedirectResponse:
    try:
        action(session=session, message_id=message_id, actor=user.username, now=utcnow(),
               school_ids=visible_school_ids(user, session))
    except LookupError as error:
        raise HTTPException(404, str(error)) from None
    except service.MessageError as error:
        raise HTTPException(409, str(error)) from None
    return RedirectResponse("/webhooks", status_code=303)


@pages.post("/{message_id}/resend")
def resend(message_id: int, request: Request, user: User = Depends(senders),
           session: Session = Depends(get_session)) -> RedirectResponse:
    """Try a given-up call again, with a fresh set of attempts, as soon as this request has committed."""
    reply = _act(request, user, session, message_id, service.resend_webhook)
    request.app.state.escalation_sender.kick_after_commit(session)
    return reply


@pages.post("/{message_id}/dismiss")
def dismiss(message_id: int, request: Request, user: User = Depends(senders),
            session: Session = Depends(get_session)) -> RedirectResponse:
    """Forget a given-up call once the school has been told some other way (audited)."""
    return _act(request, user, session, message_id, service.dismiss_webhook)
