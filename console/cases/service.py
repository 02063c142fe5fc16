"""Cases: opening, the status workflow, tasks, decisions, documents, deadlines and flags.

Every change writes one chronology entry on the case and one audit entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.audit.service import record
from console.cases.deadlines import add_working_days, working_days_until
from console.cases.models import (
    Case,
    CaseDecision,
    CaseDocument,
    CaseEntry,
    CaseStatus,
    CaseTask,
    CaseType,
    DecisionCreate,
    TaskCreate,
)
from console.people.models import User
from console.settings import Settings

# Closing and reopening have their own functions: closing needs an outcome, reopening a reason.
NEXT_STATUS = {
    CaseStatus.new: CaseStatus.allocated,
    CaseStatus.allocated: CaseStatus.investigating,
    CaseStatus.investigating: CaseStatus.action_taken,
}

Flag = Literal["overdue", "due_soon"]


class CaseError(Exception):
    """A change the case cannot take; the message says why."""


def default_type(risk: int) -> CaseType:
    if risk >= 4:
        return CaseType.child_protection
    return CaseType.early_help if risk == 3 else CaseType.wellbeing


def deadline(*, settings: Settings, case_type: CaseType, severity: int, start: date) -> date:
    try:
        days = settings.case_timescales[case_type][severity]
    except KeyError:
        raise CaseError(f"no timescale configured for a {case_type} case of severity {severity}") from None
    return add_working_days(start, days, settings.holidays)


def flag(*, case: Case, today: date, settings: Settings) -> Flag | None:
    if case.status == CaseStatus.closed:
        return None
    if case.due_on < today:
        return "overdue"
    if working_days_until(today, case.due_on, settings.holidays) <= settings.case_due_soon_days:
        return "due_soon"
    return None


def _log(*, session: Session, case: Case, actor: str, kind: str, text: str, now: datetime) -> None:
    session.add(CaseEntry(case_id=case.id, at=now, actor=actor, kind=kind, text=text))
    record(session=session, actor=actor, action=f"case.{kind}", object_type="case", object_id=case.id,
           detail={"text": text}, at=now)


def note(*, session: Session, case: Case, actor: str, kind: str, text: str, now: datetime) -> None:
    """Add a line to the chronology from elsewhere (an escalation, an email sent)."""
    _log(session=session, case=case, actor=actor, kind=kind, text=text, now=now)


def _open(case: Case) -> None:
    if case.status == CaseStatus.closed:
        raise CaseError(f"case {case.id} is closed: reopen it first")


def get(*, session: Session, case_id: int) -> Case | None:
    return session.get(Case, case_id)


def list_cases(
    *, session: Session, school_ids: Sequence[int] | None = None, open_only: bool = False, limit: int = 500
) -> list[Case]:
    query = select(Case)
    if school_ids is not None:
        query = query.where(Case.school_id.in_(school_ids))
    if open_only:
        query = query.where(Case.status != CaseStatus.closed)
    return list(session.scalars(query.order_by(Case.due_on, Case.id).limit(limit)))


def open_case_for(*, session: Session, school_id: int, pupil: str) -> Case | None:
    return session.scalar(
        select(Case)
        .where(Case.school_id == school_id, Case.pupil == pupil, Case.status != CaseStatus.closed)
        .order_by(Case.id.desc())
        .limit(1)
    )


def open_case(
    *,
    session: Session,
    settings: Settings,
    school_id: int,
    pupil: str,
    title: str,
    case_type: CaseType,
    severity: int,
    actor: str,
    now: datetime,
) -> Case:
    today = now.date()
    case = Case(
        school_id=school_id,
        pupil=pupil,
        title=title,
        type=case_type,
        severity=severity,
        opened_at=now,
        clock_started_on=today,
        due_on=deadline(settings=settings, case_type=case_type, severity=severity, start=today),
    )
    session.add(case)
    session.flush()
    _log(session=session, case=case, actor=actor, kind="opened",
         text=f"{case_type.replace('_', ' ')} case opened, severity {severity}, due {case.due_on}", now=now)
    return case


def reclassify(
    *, session: Session, settings: Settings, case: Case, case_type: CaseType, severity: int, actor: str, now: datetime
) -> None:
    """Change type and/or severity; the deadline is recomputed from when the clock started."""
    _open(case)
    if not 1 <= severity <= 5:
        raise CaseError(f"severity must be 1 to 5, not {severity}")
    due = deadline(settings=settings, case_type=case_type, severity=severity, start=case.clock_started_on)
    text = (f"reclassified {case.type.replace('_', ' ')}/{case.severity} → {case_type.replace('_', ' ')}/{severity};"
            f" deadline {case.due_on} → {due}")
    case.type, case.severity, case.due_on = case_type, severity, due
    _log(session=session, case=case, actor=actor, kind="reclassified", text=text, now=now)


def allocate(*, session: Session, case: Case, owner: User, actor: str, now: datetime) -> None:
    _open(case)
    case.owner_id = owner.id
    if case.status == CaseStatus.new:
        case.status = CaseStatus.allocated
    _log(session=session, case=case, actor=actor, kind="allocated", text=f"allocated to {owner.username}", now=now)


def advance(*, session: Session, case: Case, to: CaseStatus, actor: str, now: datetime) -> None:
    """Move one step along new → allocated → investigating → action taken."""
    _open(case)
    expected = NEXT_STATUS.get(case.status)
    if to != expected:
        allowed = f"only {expected}" if expected else "only closed (with an outcome)"
        raise CaseError(f"case {case.id} is {case.status}: it can go to {allowed}, not {to}")
    if to == CaseStatus.allocated and case.owner_id is None:
        raise CaseError(f"case {case.id} has no owner: allocate it to someone")
    case.status = to
    _log(session=session, case=case, actor=actor, kind="status", text=f"status {to.replace('_', ' ')}", now=now)


def close(*, session: Session, case: Case, outcome: str, actor: str, now: datetime) -> None:
    _open(case)
    if case.status != CaseStatus.action_taken:
        raise CaseError(f"case {case.id} is {case.status}: only a case whose action is taken can be closed")
    if not outcome.strip():
        raise CaseError("closing a case needs an outcome")
    pending = [task.title for task in tasks(session=session, case=case) if task.done_at is None]
    if pending:
        raise CaseError(f"case {case.id} has open tasks: {', '.join(pending)}")
    case.status, case.outcome, case.closed_at = CaseStatus.closed, outcome.strip(), now
    _log(session=session, case=case, actor=actor, kind="closed", text=f"closed: {case.outcome}", now=now)


def reopen(*, session: Session, settings: Settings, case: Case, reason: str, actor: str, now: datetime) -> None:
    if case.status != CaseStatus.closed:
        raise CaseError(f"case {case.id} is not closed")
    if not reason.strip():
        raise CaseError("reopening a case needs a reason")
    case.status, case.closed_at, case.clock_started_on = CaseStatus.investigating, None, now.date()
    case.due_on = deadline(settings=settings, case_type=case.type, severity=case.severity, start=case.clock_started_on)
    _log(session=session, case=case, actor=actor, kind="reopened", text=f"reopened ({reason.strip()}); due {case.due_on}",
         now=now)


def add_task(*, session: Session, case: Case, data: TaskCreate, actor: str, now: datetime) -> CaseTask:
    _open(case)
    task = CaseTask(case_id=case.id, title=data.title, due_on=data.due_on, assignee_id=data.assignee_id, created_at=now)
    session.add(task)
    session.flush()
    _log(session=session, case=case, actor=actor, kind="task", text=f"task added: {task.title} (due {task.due_on})",
         now=now)
    return task


def complete_task(*, session: Session, case: Case, task_id: int, actor: str, now: datetime) -> CaseTask:
    _open(case)
    task = session.get(CaseTask, task_id)
    if task is None or task.case_id != case.id:
        raise CaseError(f"case {case.id} has no task {task_id}")
    if task.done_at is not None:
        raise CaseError(f"task {task_id} was already done by {task.done_by}")
    task.done_at, task.done_by = now, actor
    _log(session=session, case=case, actor=actor, kind="task", text=f"task done: {task.title}", now=now)
    return task


def record_decision(*, session: Session, case: Case, data: DecisionCreate, actor: str, now: datetime) -> CaseDecision:
    _open(case)
    decision = CaseDecision(case_id=case.id, at=now, decided_by=actor, decision=data.decision, rationale=data.rationale)
    session.add(decision)
    _log(session=session, case=case, actor=actor, kind="decision",
         text=f"decided: {data.decision} (because {data.rationale})", now=now)
    return decision


def add_document(
    *, session: Session, case: Case, name: str, content_type: str, content: bytes, actor: str, now: datetime
) -> CaseDocument:
    _open(case)
    if not name.strip() or not content:
        raise CaseError("a document needs a name and some content")
    document = CaseDocument(case_id=case.id, name=name.strip(), content_type=content_type or "application/octet-stream",
                            content=content, added_by=actor, added_at=now)
    session.add(document)
    session.flush()
    _log(session=session, case=case, actor=actor, kind="document", text=f"document linked: {document.name}", now=now)
    return document


def set_legal_hold(*, session: Session, case: Case, hold: bool, reason: str, actor: str, now: datetime) -> None:
    if hold and not reason.strip():
        raise CaseError("a legal hold needs a reason")
    case.legal_hold, case.legal_hold_reason = hold, reason.strip() if hold else ""
    text = f"legal hold placed: {case.legal_hold_reason}" if hold else "legal hold lifted"
    _log(session=session, case=case, actor=actor, kind="legal_hold", text=text, now=now)


def tasks(*, session: Session, case: Case) -> list[CaseTask]:
    return list(session.scalars(select(CaseTask).where(CaseTask.case_id == case.id).order_by(CaseTask.due_on)))


def chronology(*, session: Session, case: Case) -> list[CaseEntry]:
    return list(session.scalars(select(CaseEntry).where(CaseEntry.case_id == case.id).order_by(CaseEntry.id)))


def decisions(*, session: Session, case: Case) -> list[CaseDecision]:
    return list(session.scalars(select(CaseDecision).where(CaseDecision.case_id == case.id).order_by(CaseDecision.id)))


def documents(*, session: Session, case: Case) -> list[CaseDocument]:
    return list(session.scalars(select(CaseDocument).where(CaseDocument.case_id == case.id).order_by(CaseDocument.id)))
