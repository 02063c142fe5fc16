"""The tamper-evident audit trail: who saw or changed what, hash-chained.

Writers serialise on the chain's last entry (row lock on PostgreSQL; SQLite has one writer).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.audit.models import AuditEntry
from console.store import utcnow

GENESIS = "0" * 64


def _digest(previous_hash: str, at: datetime, actor: str, action: str, object_type: str, object_id: str,
            detail: dict[str, Any]) -> str:
    content = json.dumps(
        [previous_hash, at.isoformat(), actor, action, object_type, object_id, detail],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(content.encode()).hexdigest()


def record(
    *,
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry, e.g. ``record(session=s, actor="j.smith", action="view", object_type="alert", object_id=7)``."""
    at = at or utcnow()
    detail = detail or {}
    last = session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1).with_for_update())
    previous_hash = last.hash if last else GENESIS
    entry = AuditEntry(
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        detail=detail,
        previous_hash=previous_hash,
        hash=_digest(previous_hash, at, actor, action, object_type, str(object_id), detail),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int
    problem: str


def verify(*, session: Session, batch: int = 5000) -> tuple[int, list[ChainBreak]]:
    """Walk the whole chain; return how many entries were checked and where it is broken."""
    checked = 0
    breaks: list[ChainBreak] = []
    previous_hash = GENESIS
    last_id = 0
    while True:
        entries = list(
            session.scalars(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch))
        )
        if not entries:
            return checked, breaks
        for entry in entries:
            if entry.previous_hash != previous_hash:
                breaks.append(ChainBreak(entry.id, "previous_hash does not match the entry before it"))
            expected = _digest(entry.previous_hash, entry.at, entry.actor, entry.action, entry.object_type,
                               entry.object_id, entry.detail)
            if entry.hash != expected:
                breaks.append(ChainBreak(entry.id, "content does not match its hash (altered)"))
            previous_hash = entry.hash
            last_id = entry.id
            checked += 1


def search(
    *,
    session: Session,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """Entries matching every given field, newest first; page back with ``before_id``."""
    query = select(AuditEntry)
    for column, value in ((AuditEntry.actor, actor), (AuditEntry.action, action),
                          (AuditEntry.object_type, object_type), (AuditEntry.object_id, object_id)):
        if value:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))
