from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.alerts.models import Alert, AlertStatus
from console.events.models import Event, Screenshot

CONTEXT_EVENTS = 15


def list_alerts(
    *,
    session: Session,
    school_ids: Sequence[int] | None = None,
    status: AlertStatus | None = None,
    category: str | None = None,
    min_risk: int | None = None,
    limit: int = 200,
) -> list[Alert]:
    query = select(Alert)
    if school_ids is not None:
        query = query.where(Alert.school_id.in_(school_ids))
    if status is not None:
        query = query.where(Alert.status == status)
    if category is not None:
        query = query.where(Alert.category == category)
    if min_risk is not None:
        query = query.where(Alert.risk >= min_risk)
    return list(session.scalars(query.order_by(Alert.risk.desc(), Alert.created_at.desc()).limit(limit)))


def get(*, session: Session, alert_id: int) -> Alert | None:
    return session.get(Alert, alert_id)


def context_events(*, session: Session, alert: Alert, around: int = CONTEXT_EVENTS) -> list[Event]:
    """The device's events just before and after the alert's event (by seq: the primary key)."""
    return list(
        session.scalars(
            select(Event)
            .where(
                Event.device_id == alert.device_id,
                Event.seq.between(alert.event_seq - around, alert.event_seq + around),
                Event.kind != "agent_status",
            )
            .order_by(Event.seq)
        )
    )


def screenshots(*, session: Session, alert: Alert) -> list[Screenshot]:
    return list(
        session.scalars(
            select(Screenshot).where(
                Screenshot.device_id == alert.device_id, Screenshot.trigger_seq == alert.event_seq
            )
        )
    )
