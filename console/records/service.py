"""Records management: retention and purge, legal hold, subject-access export, statistics, exports."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from console.alerts import service as alerts_service
from console.alerts.models import Alert, AlertRead
from console.audit.service import record
from console.cases import service as cases
from console.cases.models import (
    Case,
    CaseDecision,
    CaseDocument,
    CaseEntry,
    CaseRead,
    CaseStatus,
    CaseTask,
    CaseType,
)
from console.devices.models import Device
from console.escalation.models import Escalation, EscalationRead
from console.events.models import Event, Screenshot
from console.incidents import service as incidents
from console.incidents.models import Incident, IncidentAlert, IncidentRead, IncidentScreenshot
from console.notify.models import Delivery, WebhookMessage
from console.records.models import PurgeRun
from console.schools.models import Pupil, School
from console.settings import Settings

# (school id, pupil username) → date of birth, or None when it is not known.
DateOfBirth = Callable[[int, str], date | None]


class RecordsError(Exception):
    """A records request that cannot be met; the message says why."""


def register_date_of_birth(session: Session) -> DateOfBirth:
    """Dates of birth from the pupil register (imported from the school's MIS), by school and device username.

    A pupil missing from the register, or imported without a date of birth, gives None: their closed
    child-protection cases are kept until the date is recorded.
    """
    def lookup(school_id: int, pupil: str) -> date | None:
        return session.scalar(
            select(Pupil.date_of_birth).where(Pupil.school_id == school_id, Pupil.username == pupil)
        )

    return lookup


def _birthday(born: date, age: int) -> date:
    try:
        return born.replace(year=born.year + age)
    except ValueError:  # 29 February
        return born.replace(year=born.year + age, day=28)


def case_expiry(*, case: Case, settings: Settings, date_of_birth: DateOfBirth) -> date | None:
    """When a closed case may be purged; None when that cannot be known (no date of birth)."""
    if case.closed_at is None:
        raise RecordsError(f"case {case.id} is not closed: open cases are never purged")
    if case.type == CaseType.child_protection:
        born = date_of_birth(case.school_id, case.pupil)
        return None if born is None else _birthday(born, settings.child_protection_until_age)
    return (case.closed_at + timedelta(days=settings.retention_days["closed_cases"])).date()


def _delete_incidents(session: Session, incident_ids: Sequence[int]) -> dict[str, list[int]]:
    """An incident goes with its alert links, alerts, screenshots, escalations, their deliveries and webhook calls."""
    if not incident_ids:
        return {"incidents": [], "alerts": [], "screenshots": [], "escalations": []}
    alert_ids = list(session.scalars(select(IncidentAlert.alert_id).where(IncidentAlert.incident_id.in_(incident_ids))))
    shot_ids = list(session.scalars(
        select(IncidentScreenshot.screenshot_id).where(IncidentScreenshot.incident_id.in_(incident_ids))))
    escalation_ids = list(session.scalars(select(Escalation.id).where(Escalation.incident_id.in_(incident_ids))))
    session.execute(delete(Delivery).where(Delivery.object_type == "escalation",
                                           Delivery.object_id.in_([str(i) for i in escalation_ids])))
    session.execute(delete(Delivery).where(Delivery.object_type == "incident",
                                           Delivery.object_id.in_([str(i) for i in incident_ids])))
    # Queued or given-up webhook calls carry the pupil's name and the summary: they go with what they tell.
    for object_type, ids in (("incident", incident_ids), ("escalation", escalation_ids)):
        session.execute(delete(WebhookMessage).where(WebhookMessage.object_type == object_type,
                                                     WebhookMessage.object_id.in_([str(i) for i in ids])))
    session.execute(delete(Escalation).where(Escalation.id.in_(escalation_ids)))
    session.execute(delete(IncidentAlert).where(IncidentAlert.incident_id.in_(incident_ids)))
    session.execute(delete(IncidentScreenshot).where(IncidentScreenshot.incident_id.in_(incident_ids)))
    session.execute(delete(Incident).where(Incident.id.in_(incident_ids)))
    session.execute(delete(Alert).where(Alert.id.in_(alert_ids)))
    session.execute(delete(Screenshot).where(Screenshot.id.in_(shot_ids)))
    return {"incidents": list(incident_ids), "alerts": alert_ids, "screenshots": shot_ids, "escalations": escalation_ids}


def purge(*, session: Session, settings: Settings, now: datetime, date_of_birth: DateOfBirth,
          actor: str = "system") -> PurgeRun:
    """Delete every record past its retention period, except what a legal hold keeps; record what went."""
    days = settings.retention_days
    deleted: dict[str, list[Any]] = {"cases": [], "incidents": [], "alerts": [], "screenshots": [], "escalations": []}
    kept: dict[str, dict[str, str]] = {"cases": {}}

    def gone(part: dict[str, list[int]]) -> None:
        for kind, ids in part.items():
            deleted[kind].extend(ids)

    expired_cases = []
    for case in session.scalars(select(Case).where(Case.status == CaseStatus.closed).order_by(Case.id)):
        expiry = case_expiry(case=case, settings=settings, date_of_birth=date_of_birth)
        if expiry is None:
            kept["cases"][str(case.id)] = "date of birth unknown: kept until it is recorded"
        elif expiry <= now.date():
            if case.legal_hold:
                kept["cases"][str(case.id)] = f"legal hold: {case.legal_hold_reason}"
            else:
                expired_cases.append(case.id)
    for case_id in expired_cases:
        gone(_delete_incidents(session, list(session.scalars(select(Incident.id).where(Incident.case_id == case_id)))))
        for table in (CaseTask, CaseEntry, CaseDecision, CaseDocument):
            session.execute(delete(table).where(table.case_id == case_id))
        session.execute(delete(Case).where(Case.id == case_id))
        deleted["cases"].append(case_id)

    loose = session.scalars(select(Incident.id).where(
        Incident.case_id.is_(None), Incident.created_at < now - timedelta(days=days["incidents"])))
    gone(_delete_incidents(session, list(loose)))

    in_incidents = select(IncidentAlert.alert_id)
    old_alerts = list(session.scalars(select(Alert.id).where(
        Alert.created_at < now - timedelta(days=days["alerts"]), Alert.id.not_in(in_incidents))))
    session.execute(delete(Alert).where(Alert.id.in_(old_alerts)))
    deleted["alerts"].extend(old_alerts)

    linked = select(IncidentScreenshot.screenshot_id)
    old_shots = list(session.scalars(select(Screenshot.id).where(
        Screenshot.time < now - timedelta(days=days["screenshots"]), Screenshot.id.not_in(linked))))
    session.execute(delete(Screenshot).where(Screenshot.id.in_(old_shots)))
    deleted["screenshots"].extend(old_shots)

    event_cutoff = now - timedelta(days=days["events"])
    per_device = dict(session.execute(
        select(Event.device_id, func.count()).where(Event.time < event_cutoff).group_by(Event.device_id)).all())
    session.execute(delete(Event).where(Event.time < event_cutoff))

    counts = {kind: len(ids) for kind, ids in deleted.items()} | {"events": sum(per_device.values())}
    run = PurgeRun(at=now, actor=actor, counts=counts, deleted=deleted | {"events_by_device": per_device}, kept=kept)
    session.add(run)
    session.flush()
    record(session=session, actor=actor, action="records.purge", object_type="purge_run", object_id=run.id,
           detail={"counts": counts, "kept": kept}, at=now)
    return run


def purge_runs(*, session: Session, limit: int = 50) -> list[PurgeRun]:
    return list(session.scalars(select(PurgeRun).order_by(PurgeRun.id.desc()).limit(limit)))


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, default=str, sort_keys=True).encode()


def subject_access_export(*, session: Session, school_id: int, pupil: str, actor: str, now: datetime) -> bytes:
    """Everything held about one pupil at one school, as a ZIP of JSON files plus the incident PDFs,
    screenshots and case documents."""
    school = session.get(School, school_id)
    if school is None:
        raise RecordsError(f"no school {school_id}")
    alerts = list(session.scalars(
        select(Alert).where(Alert.school_id == school_id, Alert.user == pupil).order_by(Alert.id)))
    pupil_incidents = list(session.scalars(
        select(Incident).where(Incident.school_id == school_id, Incident.pupil == pupil).order_by(Incident.id)))
    pupil_cases = list(session.scalars(
        select(Case).where(Case.school_id == school_id, Case.pupil == pupil).order_by(Case.id)))
    if not (alerts or pupil_incidents or pupil_cases):
        raise RecordsError(f"nothing is held about {pupil!r} at {school.name}")
    devices = set(session.scalars(select(Device.id).where(Device.school_id == school_id))) | {
        alert.device_id for alert in alerts}
    events = list(session.scalars(
        select(Event).where(Event.user == pupil, Event.device_id.in_(devices)).order_by(Event.device_id, Event.seq)))
    screenshots = {shot.id: shot for alert in alerts for shot in alerts_service.screenshots(session=session, alert=alert)}
    for incident in pupil_incidents:
        screenshots |= {shot.id: shot for shot in incidents.screenshots_of(session=session, incident=incident)}

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("subject.json", _json({"school": school.name, "school_id": school_id, "pupil": pupil,
                                                "exported_at": now, "exported_by": actor}))
        archive.writestr("events.json", _json([
            {"device_id": e.device_id, "seq": e.seq, "kind": e.kind, "time": e.time, "text": e.text, "detail": e.detail}
            for e in events]))
        archive.writestr("alerts.json", _json([AlertRead.model_validate(a).model_dump(mode="json") for a in alerts]))
        archive.writestr("incidents.json", _json([
            IncidentRead.model_validate(i).model_dump(mode="json") | {"escalations": [
                EscalationRead.model_validate(e).model_dump(mode="json")
                for e in session.scalars(select(Escalation).where(Escalation.incident_id == i.id))]}
            for i in pupil_incidents]))
        for incident in pupil_incidents:
            archive.writestr(f"incidents/incident-{incident.id}.pdf",
                             incidents.report_pdf(session=session, incident=incident))
        archive.writestr("cases.json", _json([_case_record(session, case) for case in pupil_cases]))
        for case in pupil_cases:
            for document in cases.documents(session=session, case=case):
                archive.writestr(f"documents/case-{case.id}/{document.id}-{document.name}", document.content)
        archive.writestr("screenshots.json", _json([
            {"id": s.id, "device_id": s.device_id, "time": s.time, "reason": s.reason, "file": f"screenshots/{s.id}.{s.format}"}
            for s in screenshots.values()]))
        for shot in screenshots.values():
            archive.writestr(f"screenshots/{shot.id}.{shot.format}", shot.image)
    record(session=session, actor=actor, action="records.subject_access", object_type="pupil",
           object_id=f"{school_id}:{pupil}", detail={"alerts": len(alerts), "incidents": len(pupil_incidents),
                                                     "cases": len(pupil_cases), "events": len(events)}, at=now)
    return buffer.getvalue()


def _case_record(session: Session, case: Case) -> dict[str, Any]:
    return CaseRead.model_validate(case).model_dump(mode="json") | {
        "tasks": [{"title": t.title, "due_on": t.due_on, "done_at": t.done_at, "done_by": t.done_by}
                  for t in cases.tasks(session=session, case=case)],
        "chronology": [{"at": e.at, "actor": e.actor, "kind": e.kind, "text": e.text}
                       for e in cases.chronology(session=session, case=case)],
        "decisions": [{"at": d.at, "decided_by": d.decided_by, "decision": d.decision, "rationale": d.rationale}
                      for d in cases.decisions(session=session, case=case)],
        "documents": [{"id": d.id, "name": d.name, "added_by": d.added_by, "added_at": d.added_at}
                      for d in cases.documents(session=session, case=case)],
    }


def statistics(*, session: Session, start: datetime, end: datetime, min_count: int) -> list[dict[str, str]]:
    """Anonymised counts for information requests: no pupil, no school, no text; small counts suppressed."""
    if end <= start:
        raise RecordsError("the end of the period must be after its start")
    rows: list[tuple[str, str, int]] = []

    def count(measure: str, pairs: Iterable[tuple[Any, int]]) -> None:
        rows.extend((measure, str(key), n) for key, n in pairs)

    in_period = (Alert.created_at >= start, Alert.created_at < end)
    count("alerts by category", session.execute(select(Alert.category, func.count()).where(*in_period).group_by(Alert.category)))
    count("alerts by risk", session.execute(select(Alert.risk, func.count()).where(*in_period).group_by(Alert.risk)))
    raised = (Incident.created_at >= start, Incident.created_at < end)
    count("incidents by category",
          session.execute(select(Incident.category, func.count()).where(*raised).group_by(Incident.category)))
    count("incidents by risk", session.execute(select(Incident.risk, func.count()).where(*raised).group_by(Incident.risk)))
    opened = (Case.opened_at >= start, Case.opened_at < end)
    count("cases opened by type", session.execute(select(Case.type, func.count()).where(*opened).group_by(Case.type)))
    count("incidents by school phase", Counter(session.scalars(
        select(School.phase).join(Incident, Incident.school_id == School.id).where(*raised))).items())
    return [{"measure": measure, "value": key, "count": str(n) if n >= min_count else f"<{min_count}"}
            for measure, key, n in sorted(rows)]


INCIDENT_FIELDS = ("id", "case_id", "pupil", "device_id", "category", "risk", "summary", "actions", "created_by",
                   "created_at")
CASE_FIELDS = ("id", "pupil", "title", "type", "severity", "status", "owner_id", "opened_at", "due_on", "closed_at",
               "outcome", "legal_hold")


def incident_rows(*, session: Session, school_id: int) -> list[dict[str, Any]]:
    """Flat rows for a school's own case system (no evidence text: that stays in the report)."""
    return [
        {"id": i.id, "case_id": i.case_id, "pupil": i.pupil, "device_id": i.device_id, "category": i.category,
         "risk": i.risk, "summary": i.summary, "actions": i.actions, "created_by": i.created_by,
         "created_at": i.created_at.isoformat()}
        for i in incidents.list_incidents(session=session, school_ids=[school_id], limit=100_000)
    ]


def case_rows(*, session: Session, school_id: int) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "pupil": c.pupil, "title": c.title, "type": c.type, "severity": c.severity, "status": c.status,
         "owner_id": c.owner_id, "opened_at": c.opened_at.isoformat(), "due_on": c.due_on.isoformat(),
         "closed_at": c.closed_at.isoformat() if c.closed_at else "", "outcome": c.outcome, "legal_hold": c.legal_hold}
        for c in cases.list_cases(session=session, school_ids=[school_id], limit=100_000)
    ]


def to_csv(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
