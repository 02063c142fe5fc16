"""Case pages: the list with overdue and due-soon flags, the case file, and every workflow action."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.audit.service import record
from console.cases import service
from console.cases.models import Case, CaseRead, CaseStatus, CaseType, DecisionCreate, TaskCreate
from console.cases.service import CaseError
from console.dependencies import get_session, get_settings
from console.incidents.models import Incident
from console.people.auth import csrf_protect, require_roles, visible_school_ids
from console.people.models import Role, User
from console.settings import Settings
from console.store import utcnow
from console.templating import templates
from console.web.scope import visible_or_404

api = APIRouter(prefix="/api/cases", tags=["cases"], dependencies=[Depends(csrf_protect)])
pages = APIRouter(prefix="/cases", include_in_schema=False, dependencies=[Depends(csrf_protect)])

workers = require_roles(Role.admin, Role.officer, Role.dsl, Role.governance)
records_staff = require_roles(Role.admin, Role.governance)
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


def _visible(session: Session, user: User, case_id: int) -> Case:
    case = service.get(session=session, case_id=case_id)
    return visible_or_404(session, user, case, f"no case {case_id}")


def _back(case: Case) -> RedirectResponse:
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


def _refused(error: Exception) -> HTTPException:
    if isinstance(error, ValidationError):
        return HTTPException(422, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()))
    return HTTPException(422, str(error))


@pages.get("", response_class=HTMLResponse)
def case_list(request: Request, show: str = "open", user: User = Depends(workers),
              session: Session = Depends(get_session), settings: Settings = Depends(get_settings)) -> HTMLResponse:
    cases = service.list_cases(session=session, school_ids=visible_school_ids(user, session), open_only=show == "open")
    today = utcnow().date()
    return templates.TemplateResponse(request, "cases/list.html", {
        "cases": [(case, service.flag(case=case, today=today, settings=settings)) for case in cases], "show": show})


@pages.get("/{case_id}", response_class=HTMLResponse)
def case_page(case_id: int, request: Request, user: User = Depends(workers), session: Session = Depends(get_session),
              settings: Settings = Depends(get_settings)) -> HTMLResponse:
    case = _visible(session, user, case_id)
    record(session=session, actor=user.username, action="view", object_type="case", object_id=case.id)
    return templates.TemplateResponse(request, "cases/detail.html", {
        "case": case,
        "flag": service.flag(case=case, today=utcnow().date(), settings=settings),
        "owner": session.get(User, case.owner_id) if case.owner_id else None,
        "owners": list(session.scalars(select(User).where(User.active, User.role.in_([Role.officer, Role.admin, Role.dsl]))
                                       .order_by(User.username))),
        "incidents": list(session.scalars(select(Incident).where(Incident.case_id == case.id).order_by(Incident.id))),
        "tasks": service.tasks(session=session, case=case),
        "chronology": service.chronology(session=session, case=case),
        "decisions": service.decisions(session=session, case=case),
        "documents": service.documents(session=session, case=case),
        "next_status": service.NEXT_STATUS.get(case.status),
        "case_types": list(CaseType),
        "can_hold": user.role in (Role.admin, Role.governance),
    })


@pages.post("/{case_id}/allocate")
def allocate(case_id: int, owner_id: Annotated[int, Form()], user: User = Depends(workers),
             session: Session = Depends(get_session)) -> RedirectResponse:
    case = _visible(session, user, case_id)
    owner = session.get(User, owner_id)
    if owner is None or not owner.active:
        raise HTTPException(422, f"no active user {owner_id}")
    try:
        service.allocate(session=session, case=case, owner=owner, actor=user.username, now=utcnow())
    except CaseError as error:
        raise _refused(error) from None
    return _back(case)


@pages.post("/{case_id}/status")
def change_status(case_id: int, to: Annotated[CaseStatus, Form()], user: User = Depends(workers),
                  session: Session = Depends(get_session)) -> RedirectResponse:
    case = _visible(session, user, case_id)
    try:
        service.advance(session=session, case=case, to=to, actor=user.username, now=utcnow())
    except CaseError as error:
        raise _refused(error) from None
    return _back(case)


@pages.post("/{case_id}/reclassify")
def reclassify(case_id: int, case_type: Annotated[CaseType, Form()], severity: Annotated[int, Form()],
               user: User = Depends(workers), session: Session = Depends(get_session),
               settings: Settings = Depends(get_settings)) -> RedirectResponse:
    case = _visible(session, user, case_id)
    try:
        service.reclassify(session=session, settings=settings, case=case, case_type=case_type, severity=severity,
                           actor=user.username, now=utcnow())
    except CaseError as error:
        raise _refused(error) from None
    return _back(case)


@pages.post("/{case_id}/tasks")
def add_task(case_id: int, title: Annotated[str, Form()], due_on: Annotated[date, Form()],
             user: User = Depends(workers), session: Session = Depends(get_session)) -> RedirectResponse:
    case = _visible(session, user, case_id)
    try:
        service.add_task(session=session, case=case, data=TaskCreate(title=title.strip(), due_on=due_on),
                         actor=user.username, now=utcnow())
    except (CaseError, ValidationError) as error:
        raise _refused(error) from None
    return _back(case)


@pages.post("/{case_id}/tasks/{task_id}/done")
def complete_task(case_id: int, task_id: int, user: User = Depends(workers),
                  session: Session = Depends(get_session)) -> RedirectResponse:
    case = _visible(session, user, case_id)
    try:
        service.complete_task(session=session, case=case, task_id=task_id, actor=user.username, now=utcnow())
    except CaseError as error:
        raise _refused(error) from None
    return _back(case)


@pages.post("/{case_id}/decisions")
def record_decision(case_id: int, decision: Annotated[str, Form()], rationale: Annotated[str, Form()],
                    user: User = Depends(workers), session: Session = Depends(get_session)) -> RedirectResponse:
    case = _visible(session, user, case_id)
    try:
        service.record_decision(session=session, case=case, actor=user.username, now=utcnow(),
                                data=DecisionCreate(decision=decision.strip(), rationale=rationale.strip()))
    except (CaseError, ValidationError) as error:
        raise _refused(error) from None
    return _back(case)


@pages.post("/{case_id}/documents")
async def add_document(case_id: int, document: UploadFile, user: User = Depends(workers),
                       session: Session = Depends(get_session)) -> RedirectResponse:
    case = _visible(session, user, case_id)
    content = await document.read(MAX_DOCUMENT_BYTES + 1)
    if len(content) > MAX_DOCUMENT_BYTES:
        raise HTTPException(413, f"a document may be at most {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
    try:
        service.add_document(session=session, case=case, name=document.filename or "", content=content,
                             content_type=document.content_type or "", actor=user.username, now=utcnow())
    except CaseError as error:
        raise _refused(error) from None
    return _back(case)


@pages.get("/{case_id}/documents/{document_id}")
def read_document(case_id: int, document_id: int, user: User = Depends(workers),
                  session: Session = Depends(get_session)) -> Response:
    case = _visible(session, user, case_id)
    document = next((d for d in service.documents(session=session, case=case) if d.id == document_id), None)
    if document is None:
        raise HTTPException(404, f"case {case_id} has no document {document_id}")
    record(session=session, actor=user.username, action="download", object_type="case_document", object_id=document.id)
    return Response(document.content, media_type=document.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{document.name}"'})


@pages.post("/{case_id}/close")
def close(case_id: int, outcome: Annotated[str, Form()], user: User = Depends(workers),
          session: Session = Depends(get_session)) -> RedirectResponse:
    case = _visible(session, user, case_id)
    try:
        service.close(session=session, case=case, outcome=outcome, actor=user.username, now=utcnow())
    except CaseError as error:
        raise _refused(error) from None
    return _back(case)


@pages.post("/{case_id}/reopen")
def reopen(case_id: int, reason: Annotated[str, Form()], user: User = Depends(workers),
           session: Session = Depends(get_session), settings: Settings = Depends(get_settings)) -> RedirectResponse:
    case = _visible(session, user, case_id)
    try:
        service.reopen(session=session, settings=settings, case=case, reason=reason, actor=user.username, now=utcnow())
    except CaseError as error:
        raise _refused(error) from None
    return _back(case)


@pages.post("/{case_id}/legal-hold")
def legal_hold(case_id: int, hold: Annotated[bool, Form()], reason: Annotated[str, Form()] = "",
               user: User = Depends(records_staff), session: Session = Depends(get_session)) -> RedirectResponse:
    case = _visible(session, user, case_id)
    try:
        service.set_legal_hold(session=session, case=case, hold=hold, reason=reason, actor=user.username, now=utcnow())
    except CaseError as error:
        raise _refused(error) from None
    return _back(case)


@api.get("", response_model=list[CaseRead])
def list_cases(user: User = Depends(workers), session: Session = Depends(get_session)) -> list[Case]:
    return service.list_cases(session=session, school_ids=visible_school_ids(user, session))


@api.get("/{case_id}", response_model=CaseRead)
def read_case(case_id: int, user: User = Depends(workers), session: Session = Depends(get_session)) -> Case:
    case = _visible(session, user, case_id)
    record(session=session, actor=user.username, action="view", object_type="case", object_id=case.id)
    return case
