"""Raising incidents: the checks on what is asked, the case it joins, and the report as a PDF."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from incidents import factories
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker

from console.alerts.models import AlertStatus
from console.cases.models import Case, CaseType
from console.incidents import service as incidents
from console.incidents.models import IncidentCreate
from console.settings import Settings
from console.store import transaction

AT = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a Wednesday


def test_incident_report_pdf_and_case(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with transaction(sessions) as session:
        school = factories.school(session)
        first = factories.alert(session, school, at=AT, risk=3)
        second = factories.alert(session, school, at=AT.replace(hour=11), text="nobody would miss me")
        evidence = incidents.candidate_evidence(session=session, alerts=[first, second])
        assert [item["kind"] for item in evidence] == ["web_visit", "typed_text", "web_visit", "typed_text"]
        chosen = [item["key"] for item in evidence if item["kind"] == "typed_text"]
        shots = incidents.candidate_screenshots(session=session, alerts=[second])
        incident = incidents.create(session=session, settings=settings, actor="o.fficer", now=AT.replace(hour=12),
                                    data=IncidentCreate(alert_ids=[first.id, second.id], summary="Repeated statements.",
                                                        category="self_harm", risk=4, actions="Refer to CAMHS.",
                                                        evidence_keys=chosen, screenshot_ids=[shots[0].id]))
        assert first.status == second.status == AlertStatus.incident
        assert (first.triaged_by, first.triaged_at) == ("o.fficer", AT.replace(hour=12)), "raising is the triage decision"
        assert [item["text"] for item in incident.evidence] == ["i want to hurt myself tonight", "nobody would miss me"]
        case = session.get_one(Case, incident.case_id)
        assert (case.type, case.severity, case.pupil) == (CaseType.child_protection, 4, "p.smith")

        # A second incident about the same pupil joins the open case and raises its severity.
        third = factories.alert(session, school, at=AT.replace(hour=13), screenshot=False)
        again = incidents.create(session=session, settings=settings, actor="o.fficer", now=AT.replace(hour=13),
                                 data=IncidentCreate(alert_ids=[third.id], summary="Worse.", category="self_harm", risk=5))
        assert again.case_id == case.id and case.severity == 5

        pdf = incidents.report_pdf(session=session, incident=incident)
        html = incidents.report_html(session=session, incident=incident)
    assert "data:image/png;base64," in html
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for expected in (f"Incident report {incident.id}", "self harm", "risk 4", "Hillside Academy", "p.smith",
                     "Repeated statements.", "nobody would miss me", "Refer to CAMHS.", "Screenshots"):
        assert expected in text
    assert "How to tie knots" not in text  # not chosen as evidence


def test_bad_requests_are_refused_with_a_reason(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with transaction(sessions) as session:
        school = factories.school(session)
        alert = factories.alert(session, school, at=AT)
        other = factories.alert(session, school, pupil="someone.else", at=AT)
        base = {"alert_ids": [alert.id], "summary": "s", "category": "self_harm", "risk": 5}
        for change, message in [
            ({"alert_ids": [alert.id, 999]}, "no alert 999"),
            ({"alert_ids": [alert.id, other.id]}, "different pupils"),
            ({"evidence_keys": ["nope:1"]}, "evidence nope:1 is not in the alerts' context"),
            ({"screenshot_ids": [999]}, "screenshot 999 was not taken for these alerts"),
        ]:
            with pytest.raises(incidents.IncidentError, match=message):
                incidents.create(session=session, settings=settings, actor="o", now=AT, data=IncidentCreate(**base | change))
        incidents.create(session=session, settings=settings, actor="o", now=AT, data=IncidentCreate(**base))
        with pytest.raises(incidents.IncidentError, match=f"alert {alert.id} is already in an incident"):
            incidents.create(session=session, settings=settings, actor="o", now=AT, data=IncidentCreate(**base))


def test_alert_ids_are_parsed_with_clear_errors() -> None:
    assert incidents.parse_alert_ids("1, 2,3") == [1, 2, 3]
    with pytest.raises(incidents.IncidentError, match="numbers separated by commas"):
        incidents.parse_alert_ids("1,x")
    with pytest.raises(incidents.IncidentError, match="at least one alert"):
        incidents.parse_alert_ids(" , ")
