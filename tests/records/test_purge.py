"""Retention: expired records go, held and undatable ones stay, and the purge records what it did."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from incidents import factories
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from console.alerts.models import Alert
from console.audit.models import AuditEntry
from console.cases import service as cases
from console.cases.models import Case, CaseEntry, CaseStatus, CaseType, DecisionCreate
from console.events.models import Event, Screenshot
from console.incidents import service as incidents
from console.incidents.models import Incident, IncidentCreate
from console.notify import flows as notify
from console.notify import service as webhooks
from console.notify.models import WebhookMessage
from console.people.models import Role, User
from console.records import scheduled
from console.records import service as records
from console.schools import service as schools
from console.settings import Settings
from console.store import transaction, utcnow

NOW = datetime(2031, 6, 2, 3, 0, tzinfo=UTC)
LONG_AGO = datetime(2020, 3, 2, 10, 0, tzinfo=UTC)


def closed_case(session: Session, settings: Settings, school, pupil: str, case_type: CaseType, at: datetime) -> Case:
    alert = factories.alert(session, school, pupil=pupil, at=at)
    incident = incidents.create(session=session, settings=settings, actor="officer", now=at, data=IncidentCreate(
        alert_ids=[alert.id], summary="concern", category="self_harm", risk=4, case_type=case_type,
        screenshot_ids=[shot.id for shot in incidents.candidate_screenshots(session=session, alerts=[alert])]))
    case = session.get_one(Case, incident.case_id)
    owner = session.scalar(select(User).where(User.username == "owner"))
    cases.allocate(session=session, case=case, owner=owner, actor="officer", now=at)
    cases.advance(session=session, case=case, to=CaseStatus.investigating, actor="officer", now=at)
    cases.record_decision(session=session, case=case, data=DecisionCreate(decision="monitor", rationale="low"),
                          actor="officer", now=at)
    cases.advance(session=session, case=case, to=CaseStatus.action_taken, actor="officer", now=at)
    cases.close(session=session, case=case, outcome="resolved", actor="officer", now=at)
    return case


def test_purge_removes_expired_keeps_held_and_records_it(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    births = {"adult": date(2005, 1, 1), "child": date(2015, 1, 1)}
    with transaction(sessions) as session:
        school = factories.school(session)
        session.add(User(username="owner", role=Role.officer))
        grown_up = closed_case(session, settings, school, "adult", CaseType.child_protection, LONG_AGO)  # 25 in 2030
        young = closed_case(session, settings, school, "child", CaseType.child_protection, LONG_AGO)  # 25 in 2040
        undated = closed_case(session, settings, school, "nodob", CaseType.child_protection, LONG_AGO)
        held = closed_case(session, settings, school, "held", CaseType.wellbeing, LONG_AGO)  # six years: 2026
        cases.set_legal_hold(session=session, case=held, hold=True, reason="civil claim 2031/17", actor="legal",
                             now=NOW - timedelta(days=1))
        old_loose = factories.alert(session, school, pupil="loose", at=NOW - timedelta(days=400))
        recent = factories.alert(session, school, pupil="loose", at=NOW - timedelta(days=10))
        kept_ids = {"young": young.id, "undated": undated.id, "held": held.id, "recent": recent.id}
        # Webhook calls given up on long ago (the school's endpoint was down) still hold the pupil's details.
        webhooks.set_webhook(session=session, school_id=school.id, url="http://127.0.0.1:9/hook", secret="s" * 20)
        for case in (grown_up, young):
            incident_id = session.scalar(select(Incident.id).where(Incident.case_id == case.id))
            notify.enqueue_webhook(session=session, school_id=school.id, event="incident.created",
                                   payload={"pupil": case.pupil}, object_type="incident", object_id=incident_id,
                                   now=LONG_AGO)
        gone_ids = {"case": grown_up.id, "loose": old_loose.id}

    with transaction(sessions) as session:
        run = records.purge(session=session, settings=settings, now=NOW,
                            date_of_birth=lambda school_id, pupil: births.get(pupil))

    with transaction(sessions) as session:
        remaining_cases = set(session.scalars(select(Case.id)))
        assert remaining_cases == {kept_ids["young"], kept_ids["undated"], kept_ids["held"]}
        assert session.scalar(select(func.count()).select_from(CaseEntry).where(CaseEntry.case_id == gone_ids["case"])) == 0
        assert session.scalar(select(func.count()).select_from(Incident).where(Incident.pupil == "adult")) == 0
        alerts = set(session.scalars(select(Alert.user)))
        assert alerts == {"child", "nodob", "held", "loose"}
        assert session.scalar(select(func.count()).select_from(Alert).where(Alert.user == "loose")) == 1
        assert session.get(Alert, kept_ids["recent"]) is not None
        assert [message.payload for message in session.scalars(select(WebhookMessage))] == [{"pupil": "child"}]
        # Raw events older than 30 days are gone; the recent alert's events stay.
        assert set(session.scalars(select(Event.user))) == {"loose"}
        # Screenshots: the held and other kept incidents' screenshots stay, old unlinked ones go.
        assert session.scalar(select(func.count()).select_from(Screenshot)) == 4

        assert run.counts["cases"] == 1 and run.deleted["cases"] == [gone_ids["case"]]
        assert gone_ids["loose"] in run.deleted["alerts"]
        assert run.counts["events"] == 2 * 5  # two events for each of five alerts older than 30 days
        assert run.kept["cases"] == {str(kept_ids["undated"]): "date of birth unknown: kept until it is recorded",
                                     str(kept_ids["held"]): "legal hold: civil claim 2031/17"}
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "records.purge"))
        assert entry.detail["counts"] == run.counts
        assert records.purge_runs(session=session)[0].id == run.id


def test_open_case_has_no_expiry(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with transaction(sessions) as session:
        school = factories.school(session)
        alert = factories.alert(session, school, at=LONG_AGO)
        incident = incidents.create(session=session, settings=settings, actor="o", now=LONG_AGO, data=IncidentCreate(
            alert_ids=[alert.id], summary="s", category="self_harm", risk=5))
        case = session.get_one(Case, incident.case_id)
        with pytest.raises(records.RecordsError, match="is not closed"):
            records.case_expiry(case=case, settings=settings, date_of_birth=records.register_date_of_birth(session))
        records.purge(session=session, settings=settings, now=NOW, date_of_birth=records.register_date_of_birth(session))
        assert session.get(Case, case.id) is not None and session.get(Alert, alert.id) is not None


def test_scheduled_purge_keeps_child_protection_cases_until_the_25th_birthday_in_the_register(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The nightly job reads dates of birth from the pupil register: a closed child-protection case goes once the
    pupil is 25, stays while they are younger, and stays (said why) when the register has no date."""
    settings = Settings(data_dir=tmp_path)
    today = utcnow().date()
    this_day_25_years_ago = date(today.year - 25, today.month, min(today.day, 28))  # no 29 February trouble
    turned_25 = this_day_25_years_ago - timedelta(days=2)
    turns_25_soon = this_day_25_years_ago + timedelta(days=5)
    with transaction(sessions) as session:
        school = factories.school(session)
        session.add(User(username="owner", role=Role.officer))
        imported = schools.import_pupils(session=session, school=school, text=(
            "UPN,Surname,Forename,Year,Reg,Username,Date of Birth\n"
            f"A123456789012,Old,Ann,13,,grown,{turned_25:%d/%m/%Y}\n"
            f"B123456789012,Young,Ben,13,,almost,{turns_25_soon.isoformat()}\n"
            "C123456789012,Blank,Cat,13,,undated,\n"))
        assert imported.errors == [] and imported.created == 3
        grown = closed_case(session, settings, school, "grown", CaseType.child_protection, LONG_AGO)
        almost = closed_case(session, settings, school, "almost", CaseType.child_protection, LONG_AGO)
        undated = closed_case(session, settings, school, "undated", CaseType.child_protection, LONG_AGO)
        ids = {"grown": grown.id, "almost": almost.id, "undated": undated.id}

    scheduled.purge(sessions, settings)

    with transaction(sessions) as session:
        assert set(session.scalars(select(Case.id))) == {ids["almost"], ids["undated"]}
        assert session.scalar(select(func.count()).select_from(Incident).where(Incident.pupil == "grown")) == 0
        assert session.scalar(select(func.count()).select_from(Incident).where(Incident.pupil == "almost")) == 1
        [run] = records.purge_runs(session=session)
        assert run.deleted["cases"] == [ids["grown"]]
        assert run.kept["cases"] == {str(ids["undated"]): "date of birth unknown: kept until it is recorded"}
        almost_case = session.get_one(Case, ids["almost"])
        expiry = records.case_expiry(case=almost_case, settings=settings,
                                     date_of_birth=records.register_date_of_birth(session))
        assert expiry is not None and expiry > today and expiry.year == turns_25_soon.year + 25
