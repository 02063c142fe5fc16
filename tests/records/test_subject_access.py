"""Subject access: exactly one pupil's records; anonymised statistics; incident and case exports."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from incidents import factories
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker

from console.cases import service as cases
from console.cases.models import Case
from console.incidents import service as incidents
from console.incidents.models import IncidentCreate
from console.records import service as records
from console.settings import Settings
from console.store import transaction

AT = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def raise_for(session: Session, settings: Settings, school, pupil: str, text: str) -> int:
    alert = factories.alert(session, school, pupil=pupil, at=AT, text=text)
    incident = incidents.create(session=session, settings=settings, actor="officer", now=AT, data=IncidentCreate(
        alert_ids=[alert.id], summary=f"summary about {pupil}", category="self_harm", risk=5,
        screenshot_ids=[s.id for s in incidents.candidate_screenshots(session=session, alerts=[alert])]))
    cases.add_document(session=session, case=session.get_one(Case, incident.case_id), name=f"{pupil}-notes.txt",
                       content_type="text/plain", content=f"notes on {pupil}".encode(), actor="officer", now=AT)
    return incident.id


def test_subject_access_export_holds_exactly_the_pupils_records(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with transaction(sessions) as session:
        school = factories.school(session)
        other_school = factories.school(session, "Other School")
        mine = raise_for(session, settings, school, "amy", "amy typed this")
        raise_for(session, settings, school, "ben", "ben typed that")
        raise_for(session, settings, other_school, "amy", "the other school's amy")
        archive = zipfile.ZipFile(io.BytesIO(records.subject_access_export(
            session=session, school_id=school.id, pupil="amy", actor="governance", now=AT)))

    names = set(archive.namelist())
    assert {"subject.json", "events.json", "alerts.json", "incidents.json", "cases.json", "screenshots.json",
            f"incidents/incident-{mine}.pdf"} <= names
    everything = " ".join(archive.read(n).decode(errors="ignore") for n in names if n.endswith((".json", ".txt")))
    assert "amy typed this" in everything and "notes on amy" in everything
    assert "ben" not in everything and "the other school" not in everything
    assert [i["id"] for i in json.loads(archive.read("incidents.json"))] == [mine]
    assert {e["text"] for e in json.loads(archive.read("events.json"))} == {"amy typed this", "How to tie knots"}
    assert len([n for n in names if n.startswith("screenshots/")]) == 1
    [case] = json.loads(archive.read("cases.json"))
    assert case["pupil"] == "amy" and case["chronology"][0]["kind"] == "opened"
    pdf_text = PdfReader(io.BytesIO(archive.read(f"incidents/incident-{mine}.pdf"))).pages[0].extract_text()
    assert "summary about amy" in pdf_text


def test_subject_access_for_an_unknown_pupil_is_refused(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        school = factories.school(session)
        with pytest.raises(records.RecordsError, match="nothing is held about 'zed'"):
            records.subject_access_export(session=session, school_id=school.id, pupil="zed", actor="g", now=AT)
        with pytest.raises(records.RecordsError, match="no school 999"):
            records.subject_access_export(session=session, school_id=999, pupil="zed", actor="g", now=AT)


def test_statistics_are_anonymous_and_suppress_small_counts(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with transaction(sessions) as session:
        school = factories.school(session)
        for n in range(6):
            factories.alert(session, school, pupil=f"pupil{n}", at=AT, category="bullying", risk=3)
        raise_for(session, settings, school, "amy", "amy typed this")
        rows = records.statistics(session=session, start=AT - timedelta(days=1), end=AT + timedelta(days=1),
                                  min_count=5)
        with pytest.raises(records.RecordsError, match="end of the period must be after"):
            records.statistics(session=session, start=AT, end=AT, min_count=5)
    table = {(r["measure"], r["value"]): r["count"] for r in rows}
    assert table[("alerts by category", "bullying")] == "6"
    assert table[("alerts by category", "self_harm")] == "<5"
    assert table[("incidents by risk", "5")] == "<5"
    assert table[("cases opened by type", "child_protection")] == "<5"
    assert "amy" not in json.dumps(rows) and "pupil" not in json.dumps(rows)


def test_incident_and_case_exports_as_csv(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with transaction(sessions) as session:
        school = factories.school(session)
        other = factories.school(session, "Other School")
        incident_id = raise_for(session, settings, school, "amy", "amy typed this")
        raise_for(session, settings, other, "zoe", "elsewhere")
        incident_csv = records.to_csv(records.incident_rows(session=session, school_id=school.id),
                                      records.INCIDENT_FIELDS)
        case_csv = records.to_csv(records.case_rows(session=session, school_id=school.id), records.CASE_FIELDS)
        empty = records.to_csv(records.case_rows(session=session, school_id=999), records.CASE_FIELDS)
    [row] = list(csv.DictReader(io.StringIO(incident_csv)))
    assert row["id"] == str(incident_id) and row["pupil"] == "amy" and row["risk"] == "5"
    [case] = list(csv.DictReader(io.StringIO(case_csv)))
    assert case["type"] == "child_protection" and case["status"] == "new" and case["pupil"] == "amy"
    assert empty.strip() == ",".join(records.CASE_FIELDS)
