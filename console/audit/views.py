"""The audit log, searchable by auditors (and admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from console.audit import service
from console.audit.models import AuditEntry, AuditEntryRead
from console.dependencies import get_session
from console.people.auth import require_roles
from console.people.models import Role, User
from console.templating import templates

api = APIRouter(prefix="/api/audit", tags=["audit"])
pages = APIRouter(prefix="/audit", include_in_schema=False)

auditors = require_roles(Role.auditor, Role.admin)
PAGE = 200


@dataclass
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: date | None = None
    until: date | None = None
    before_id: int | None = None


def _query(
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: date | None = Query(None, description="First day (UTC), inclusive."),
    until: date | None = Query(None, description="Last day (UTC), inclusive."),
    before_id: int | None = Query(None, description="Only entries older than this id (the next page)."),
) -> AuditQuery:
    return AuditQuery(actor or None, action or None, object_type or None, object_id or None, since, until, before_id)


def _search(session: Session, query: AuditQuery) -> list[AuditEntry]:
    def day(value: date | None, shift: int = 0) -> datetime | None:
        return datetime.combine(value, time(), timezone.utc) + timedelta(days=shift) if value else None

    return service.search(
        session=session, actor=query.actor, action=query.action, object_type=query.object_type,
        object_id=query.object_id, since=day(query.since), until=day(query.until, 1), before_id=query.before_id,
        limit=PAGE,
    )


@api.get("", response_model=list[AuditEntryRead])
def search_audit(
    query: AuditQuery = Depends(_query), _: User = Depends(auditors), session: Session = Depends(get_session)
) -> list[AuditEntry]:
    """Audit entries matching every given field, newest first, 200 at a time."""
    return _search(session, query)


@pages.get("", response_class=HTMLResponse)
def audit_page(
    request: Request, query: AuditQuery = Depends(_query), _: User = Depends(auditors),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    entries = _search(session, query)
    return templates.TemplateResponse(
        request, "audit/list.html", {"entries": entries, "query": query, "more": len(entries) == PAGE}
    )
