"""The case workflow, its refusals, and deadlines recomputed when the case changes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from incidents import factories
from sqlalchemy.orm import Session, sessionmaker

from console.cases import service as cases
from console.cases.models import CaseStatus, CaseType, DecisionCreate, TaskCreate
from console.people.models import Role, User
from console.settings import Settings
from console.store import transaction

THURSDAY = datetime(2026, 12, 17, 9, 0, tzinfo=UTC)
HOLIDAYS = [date(2026, 12, 21), date(2026, 12, 22)]


def test_workflow_deadlines_and_flags(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, holidays=HOLIDAYS)
    with transaction(sessions) as session:
        school = factories.school(session)
        owner = User(username="owner", role=Role.officer)
        session.add(owner)
        case = cases.open_case(session=session, settings=settings, school_id=school.id, pupil="p", title="t",
                               case_type=CaseType.child_protection, severity=4, actor="o", now=THURSDAY)
        # Two working days from Thursday 17th: Friday 18th, then (weekend, 21st and 22nd are holidays) the 23rd.
        assert case.due_on == date(2026, 12, 23)
        assert cases.flag(case=case, today=THURSDAY.date(), settings=settings) == "due_soon"

        # Severity down to 2 (ten working days), then the type changes: each recomputes from the opening.
        cases.reclassify(session=session, settings=settings, case=case, case_type=CaseType.child_protection,
                         severity=2, actor="o", now=THURSDAY)
        assert case.due_on == date(2027, 1, 4)
        assert cases.flag(case=case, today=THURSDAY.date(), settings=settings) is None
        cases.reclassify(session=session, settings=settings, case=case, case_type=CaseType.early_help, severity=5,
                         actor="o", now=THURSDAY)
        assert case.due_on == date(2026, 12, 28)  # Fri 18th, 23rd, 24th, 25th, Mon 28th
        assert cases.flag(case=case, today=date(2026, 12, 29), settings=settings) == "overdue"
        with pytest.raises(cases.CaseError, match="severity must be 1 to 5"):
            cases.reclassify(session=session, settings=settings, case=case, case_type=CaseType.early_help, severity=6,
                             actor="o", now=THURSDAY)

        with pytest.raises(cases.CaseError, match="has no owner"):
            cases.advance(session=session, case=case, to=CaseStatus.allocated, actor="o", now=THURSDAY)
        with pytest.raises(cases.CaseError, match="is new: it can go to only allocated, not investigating"):
            cases.advance(session=session, case=case, to=CaseStatus.investigating, actor="o", now=THURSDAY)
        cases.allocate(session=session, case=case, owner=owner, actor="manager", now=THURSDAY)
        assert case.status == CaseStatus.allocated and case.owner_id == owner.id
        cases.advance(session=session, case=case, to=CaseStatus.investigating, actor="o", now=THURSDAY)
        with pytest.raises(cases.CaseError, match="only a case whose action is taken can be closed"):
            cases.close(session=session, case=case, outcome="x", actor="o", now=THURSDAY)
        task = cases.add_task(session=session, case=case, data=TaskCreate(title="Home visit", due_on=date(2026, 12, 18)),
                              actor="o", now=THURSDAY)
        cases.advance(session=session, case=case, to=CaseStatus.action_taken, actor="o", now=THURSDAY)
        with pytest.raises(cases.CaseError, match="can go to only closed"):
            cases.advance(session=session, case=case, to=CaseStatus.investigating, actor="o", now=THURSDAY)
        with pytest.raises(cases.CaseError, match="needs an outcome"):
            cases.close(session=session, case=case, outcome="  ", actor="o", now=THURSDAY)
        with pytest.raises(cases.CaseError, match="has open tasks: Home visit"):
            cases.close(session=session, case=case, outcome="done", actor="o", now=THURSDAY)
        cases.complete_task(session=session, case=case, task_id=task.id, actor="o", now=THURSDAY)
        with pytest.raises(cases.CaseError, match="already done by o"):
            cases.complete_task(session=session, case=case, task_id=task.id, actor="o", now=THURSDAY)
        with pytest.raises(cases.CaseError, match="has no task 999"):
            cases.complete_task(session=session, case=case, task_id=999, actor="o", now=THURSDAY)
        cases.close(session=session, case=case, outcome="Support in place", actor="o", now=THURSDAY)
        assert cases.flag(case=case, today=date(2027, 6, 1), settings=settings) is None

        with pytest.raises(cases.CaseError, match="is closed: reopen it first"):
            cases.record_decision(session=session, case=case, data=DecisionCreate(decision="d", rationale="r"),
                                  actor="o", now=THURSDAY)
        with pytest.raises(cases.CaseError, match="needs a reason"):
            cases.reopen(session=session, settings=settings, case=case, reason="", actor="o", now=THURSDAY)
        monday = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
        cases.reopen(session=session, settings=settings, case=case, reason="new disclosure", actor="o", now=monday)
        assert case.status == CaseStatus.investigating and case.closed_at is None
        assert case.due_on == date(2027, 1, 18)  # five working days from the reopening
        with pytest.raises(cases.CaseError, match="is not closed"):
            cases.reopen(session=session, settings=settings, case=case, reason="x", actor="o", now=monday)
        with pytest.raises(cases.CaseError, match="legal hold needs a reason"):
            cases.set_legal_hold(session=session, case=case, hold=True, reason="", actor="o", now=monday)
        with pytest.raises(cases.CaseError, match="needs a name and some content"):
            cases.add_document(session=session, case=case, name="a.txt", content_type="text/plain", content=b"",
                               actor="o", now=monday)

        kinds = [entry.kind for entry in cases.chronology(session=session, case=case)]
        assert kinds == ["opened", "reclassified", "reclassified", "allocated", "status", "task", "status", "task",
                         "closed", "reopened"]


def test_a_missing_timescale_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, case_timescales={"wellbeing": {5: 3}})
    with pytest.raises(cases.CaseError, match="no timescale configured for a early_help case of severity 5"):
        cases.deadline(settings=settings, case_type=CaseType.early_help, severity=5, start=date(2026, 1, 5))
    assert cases.deadline(settings=settings, case_type=CaseType.wellbeing, severity=5, start=date(2026, 1, 2)) \
        == date(2026, 1, 7)
