"""Incident reports: raised from alerts about one pupil, with the chosen evidence copied in."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.alerts import service as alerts_service
from console.alerts.models import Alert
from console.audit.service import record
from console.cases import service as cases
from console.cases.models import Case
from console.documents import render_html, render_pdf
from console.events.models import Screenshot
from console.incidents.models import Incident, IncidentAlert, IncidentCreate, IncidentScreenshot
from console.schools.models import School
from console.settings import Settings

TEMPLATE = "incidents/report.html"


class IncidentError(Exception):
    """An incident that cannot be raised as asked; the message says why."""


def parse_alert_ids(text: str) -> list[int]:
    """``"1,2, 3"`` → [1, 2, 3], with a clear error for anything else."""
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise IncidentError(f"alert_ids must be numbers separated by commas, not {text!r}") from None
    if not ids:
        raise IncidentError("an incident is raised from at least one alert")
    return ids


def load_alerts(*, session: Session, alert_ids: Sequence[int]) -> list[Alert]:
    """The alerts, checked: all exist, are about one pupil at one school, and are in no incident yet."""
    alerts = list(session.scalars(select(Alert).where(Alert.id.in_(alert_ids)).order_by(Alert.event_time)))
    missing = sorted(set(alert_ids) - {alert.id for alert in alerts})
    if missing:
        raise IncidentError(f"no alert {', '.join(map(str, missing))}")
    if len({(alert.school_id, alert.user) for alert in alerts}) > 1:
        raise IncidentError("the alerts are about different pupils: raise one incident per pupil")
    taken = session.scalars(select(IncidentAlert.alert_id).where(IncidentAlert.alert_id.in_(alert_ids))).all()
    if taken:
        raise IncidentError(f"alert {', '.join(map(str, sorted(taken)))} is already in an incident")
    return alerts


def candidate_evidence(*, session: Session, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """The alerts' context events, merged in time order, each keyed ``device_id:seq``."""
    by_key: dict[str, dict[str, Any]] = {}
    alert_at = {(alert.device_id, alert.event_seq): alert.id for alert in alerts}
    for alert in alerts:
        for event in alerts_service.context_events(session=session, alert=alert):
            by_key[f"{event.device_id}:{event.seq}"] = {
                "key": f"{event.device_id}:{event.seq}",
                "time": event.time.isoformat(),
                "kind": str(event.kind),
                "text": event.text,
                "url": event.detail.get("url", ""),
                "alert_id": alert_at.get((event.device_id, event.seq)),
            }
    return sorted(by_key.values(), key=lambda item: (item["time"], item["key"]))


def candidate_screenshots(*, session: Session, alerts: Sequence[Alert]) -> list[Screenshot]:
    return [shot for alert in alerts for shot in alerts_service.screenshots(session=session, alert=alert)]


def create(*, session: Session, settings: Settings, data: IncidentCreate, actor: str, now: datetime) -> Incident:
    """Raise the incident, mark its alerts, and attach it to the pupil's open case (or open one)."""
    alerts = load_alerts(session=session, alert_ids=data.alert_ids)
    evidence = candidate_evidence(session=session, alerts=alerts)
    if data.evidence_keys is not None:
        unknown = set(data.evidence_keys) - {item["key"] for item in evidence}
        if unknown:
            raise IncidentError(f"evidence {', '.join(sorted(unknown))} is not in the alerts' context")
        evidence = [item for item in evidence if item["key"] in set(data.evidence_keys)]
    shots = {shot.id for shot in candidate_screenshots(session=session, alerts=alerts)}
    foreign = set(data.screenshot_ids) - shots
    if foreign:
        raise IncidentError(f"screenshot {', '.join(map(str, sorted(foreign)))} was not taken for these alerts")
    first = alerts[0]
    incident = Incident(
        school_id=first.school_id,
        pupil=first.user,
        device_id=first.device_id,
        category=data.category,
        risk=data.risk,
        summary=data.summary,
        actions=data.actions,
        created_by=actor,
        created_at=now,
        evidence=evidence,
    )
    session.add(incident)
    session.flush()
    for alert in alerts:
        alerts_service.mark_in_incident(alert=alert, incident_id=incident.id, actor=actor, now=now)
        session.add(IncidentAlert(incident_id=incident.id, alert_id=alert.id))
    for screenshot_id in sorted(set(data.screenshot_ids)):
        session.add(IncidentScreenshot(incident_id=incident.id, screenshot_id=screenshot_id))
    record(session=session, actor=actor, action="incident.create", object_type="incident", object_id=incident.id,
           detail={"alert_ids": [alert.id for alert in alerts], "risk": data.risk, "category": data.category}, at=now)
    incident.case_id = _attach_to_case(session=session, settings=settings, incident=incident, data=data, actor=actor,
                                       now=now).id
    return incident


def _attach_to_case(
    *, session: Session, settings: Settings, incident: Incident, data: IncidentCreate, actor: str, now: datetime
) -> Case:
    case = cases.open_case_for(session=session, school_id=incident.school_id, pupil=incident.pupil)
    if case is None:
        case = cases.open_case(
            session=session,
            settings=settings,
            school_id=incident.school_id,
            pupil=incident.pupil,
            title=f"{incident.category.replace('_', ' ')}: {incident.pupil}",
            case_type=data.case_type or cases.default_type(incident.risk),
            severity=incident.risk,
            actor=actor,
            now=now,
        )
    elif incident.risk > case.severity or (data.case_type and data.case_type != case.type):
        cases.reclassify(session=session, settings=settings, case=case, case_type=data.case_type or case.type,
                         severity=max(case.severity, incident.risk), actor=actor, now=now)
    cases.note(session=session, case=case, actor=actor, kind="incident",
               text=f"incident {incident.id} raised: {incident.category.replace('_', ' ')}, risk {incident.risk}",
               now=now)
    return case


def get(*, session: Session, incident_id: int) -> Incident | None:
    return session.get(Incident, incident_id)


def list_incidents(*, session: Session, school_ids: Sequence[int] | None = None, limit: int = 500) -> list[Incident]:
    query = select(Incident)
    if school_ids is not None:
        query = query.where(Incident.school_id.in_(school_ids))
    return list(session.scalars(query.order_by(Incident.created_at.desc()).limit(limit)))


def alerts_of(*, session: Session, incident: Incident) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert).join(IncidentAlert, IncidentAlert.alert_id == Alert.id)
            .where(IncidentAlert.incident_id == incident.id).order_by(Alert.event_time)
        )
    )


def screenshots_of(*, session: Session, incident: Incident) -> list[Screenshot]:
    return list(
        session.scalars(
            select(Screenshot).join(IncidentScreenshot, IncidentScreenshot.screenshot_id == Screenshot.id)
            .where(IncidentScreenshot.incident_id == incident.id).order_by(Screenshot.time)
        )
    )


def report_context(*, session: Session, incident: Incident) -> dict[str, Any]:
    """What the report template needs; screenshots inline as data URIs so the PDF stands alone."""
    return {
        "incident": incident,
        "school": session.get(School, incident.school_id),
        "alerts": alerts_of(session=session, incident=incident),
        "screenshots": [
            {"time": shot.time, "reason": shot.reason,
             "src": f"data:image/{shot.format};base64,{base64.b64encode(shot.image).decode()}"}
            for shot in screenshots_of(session=session, incident=incident)
        ],
    }


def report_html(*, session: Session, incident: Incident) -> str:
    return render_html(TEMPLATE, report_context(session=session, incident=incident))


def report_pdf(*, session: Session, incident: Incident) -> bytes:
    return render_pdf(TEMPLATE, report_context(session=session, incident=incident))
