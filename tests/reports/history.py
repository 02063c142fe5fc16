"""Two schools with a known history in autumn 2026 (Europe/London: BST until 25 October, then GMT).

Every figure the reports should show is worked out by hand in the tests from what is written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy.orm import Session

from console.alerts.models import Alert, AlertStatus
from console.cases.models import Case, CaseEntry, CaseStatus, CaseType
from console.devices.models import Device
from console.escalation.models import Escalation, EscalationStatus
from console.events.models import Event, EventKind
from console.incidents.models import Incident
from console.people.models import Role, User
from console.schools.models import Group, GroupKind, Phase, Pupil, School


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@dataclass
class History:
    hillside: int
    brookfield: int


def _device(
    session: Session,
    school: School,
    name: str,
    enrolled: str,
    revoked: str | None = None,
    last_seen: str | None = None,
) -> str:
    session.add(
        Device(
            id=f"{name}-0000",
            school_id=school.id,
            hostname=name,
            certificate_serial=name,
            enrolled_at=utc(enrolled),
            revoked_at=utc(revoked) if revoked else None,
            last_seen_at=utc(last_seen) if last_seen else None,
        )
    )
    return f"{name}-0000"


def _events(session: Session, device_id: str, *times: str) -> None:
    for seq, time in enumerate(times, start=1):
        session.add(
            Event(
                device_id=device_id,
                seq=seq,
                event_id=f"{device_id}-{seq}",
                kind=EventKind.typed_text,
                time=utc(time),
                text="x",
            )
        )


_seq = iter(range(1, 10_000))


def _alert(
    session: Session,
    school: School,
    at: str,
    category: str,
    risk: int,
    status: AlertStatus,
    rule_id: str,
    user: str = "pupil.one",
    triaged: str | None = None,
) -> None:
    session.add(
        Alert(
            school_id=school.id,
            device_id="hs-pc1-0000",
            user=user,
            event_seq=next(_seq),
            event_time=utc(at),
            created_at=utc(at),
            source="rule" if rule_id else "model",
            category=category,
            risk=risk,
            rule_id=rule_id,
            status=status,
            triaged_by="sam" if triaged else "",
            triaged_at=utc(triaged) if triaged else None,
        )
    )


def build(session: Session) -> History:
    hillside = School(name="Hillside School", phase=Phase.secondary)
    brookfield = School(name="Brookfield Primary", phase=Phase.primary)
    session.add_all([hillside, brookfield])
    session.flush()

    # Devices. October (local) runs from 2026-09-30 23:00 UTC to 2026-11-01 00:00 UTC.
    pc1 = _device(session, hillside, "hs-pc1", "2026-09-01 08:00")
    pc2 = _device(session, hillside, "hs-pc2", "2026-09-01 08:00", last_seen="2026-09-25 15:00")
    pc3 = _device(session, hillside, "hs-pc3", "2026-10-10 08:00")
    _device(session, hillside, "hs-pc4", "2026-11-05 08:00")  # enrolled after October
    pc5 = _device(
        session, hillside, "hs-pc5", "2026-09-01 08:00", revoked="2026-09-20 08:00"
    )  # revoked before October
    pc6 = _device(
        session, hillside, "hs-pc6", "2026-09-01 08:00", revoked="2026-10-15 08:00"
    )  # revoked during October
    pc7 = _device(session, hillside, "hs-pc7", "2026-09-01 08:00")
    pc8 = _device(session, hillside, "hs-pc8", "2026-09-01 08:00", last_seen="2026-11-01 00:00")
    bf1 = _device(session, brookfield, "bf-pc1", "2026-09-01 08:00")
    _events(session, pc1, "2026-10-02 09:00", "2026-10-02 09:01", "2026-10-20 10:00")
    _events(session, pc2, "2026-09-25 15:00")
    _events(session, pc3, "2026-10-12 09:00", "2026-10-30 09:00")
    _events(
        session, pc5, "2026-09-10 09:00", "2026-10-05 09:00"
    )  # revoked, yet (say) a late resend: not counted
    _events(session, pc6, "2026-10-14 09:00")
    _events(session, pc7, "2026-09-30 23:30")  # 00:30 on 1 October in London
    _events(session, pc8, "2026-11-01 00:00")  # midnight starting 1 November (GMT)
    _events(session, bf1, "2026-10-03 09:00", "2026-10-04 09:00")

    year7 = Group(school_id=hillside.id, name="Year 7", kind=GroupKind.year)
    year9 = Group(school_id=hillside.id, name="Year 9", kind=GroupKind.year)
    session.add_all([year7, year9])
    session.flush()
    for username, year in (("pupil.one", year7), ("pupil.two", year9)):
        session.add(
            Pupil(
                school_id=hillside.id,
                upn=username,
                username=username,
                forename="A",
                surname="B",
                year_group_id=year.id,
            )
        )
    # Brookfield's pupil.one is another child, in no Hillside year group.
    session.add(Pupil(school_id=brookfield.id, upn="bf", username="pupil.one", forename="C", surname="D"))

    # Alerts in October at Hillside: 7 (4 by pupil.one in Year 7, 2 by pupil.two in Year 9, 1 by a guest).
    fp, no_concern, new, incident, monitor = (
        AlertStatus.false_positive,
        AlertStatus.no_concern,
        AlertStatus.new,
        AlertStatus.incident,
        AlertStatus.monitor,
    )
    # Triage times (minutes from alert to decision) of the alerts raised in Q4: Hillside 4, 6, 10, 30, 480
    # and 60; Brookfield 2 and 5 (in November). Alerts still new have none.
    _alert(
        session,
        hillside,
        "2026-10-05 13:15",
        "bullying",
        2,
        fp,
        "bullying.insults",
        triaged="2026-10-05 13:19",
    )
    _alert(
        session,
        hillside,
        "2026-10-05 13:15",
        "bullying",
        2,
        fp,
        "bullying.insults",
        triaged="2026-10-05 13:21",
    )
    _alert(
        session,
        hillside,
        "2026-10-05 13:15",
        "bullying",
        2,
        no_concern,
        "bullying.insults",
        triaged="2026-10-05 13:25",
    )
    _alert(session, hillside, "2026-10-28 14:05", "bullying", 4, new, "bullying.threats", user="pupil.two")
    _alert(
        session,
        hillside,
        "2026-10-28 14:05",
        "self_harm",
        5,
        incident,
        "self_harm.intent",
        user="pupil.two",
        triaged="2026-10-28 14:35",
    )
    # Raised at 00:30 on 1 October in London, decided the next morning: 8 hours.
    _alert(
        session,
        hillside,
        "2026-09-30 23:30",
        "self_harm",
        5,
        monitor,
        "self_harm.intent",
        user="guest",
        triaged="2026-10-01 07:30",
    )
    _alert(session, hillside, "2026-10-20 08:00", "self_harm", 3, fp, "", triaged="2026-10-20 09:00")
    # Earlier months at Hillside, for the trend. The first was decided in October but raised in September:
    # not in Q4's triage times.
    _alert(
        session,
        hillside,
        "2026-09-10 10:00",
        "bullying",
        1,
        no_concern,
        "bullying.insults",
        triaged="2026-10-02 10:00",
    )
    _alert(session, hillside, "2026-09-11 10:00", "bullying", 1, new, "bullying.insults")
    _alert(session, hillside, "2026-08-15 10:00", "self_harm", 3, new, "self_harm.intent")
    _alert(
        session, hillside, "2026-04-20 10:00", "self_harm", 3, new, "self_harm.intent"
    )  # outside the 6 months
    # Brookfield in October: 2, untriaged; in November: 2, decided after 2 and 5 minutes.
    _alert(session, brookfield, "2026-10-06 10:00", "bullying", 3, new, "bullying.insults")
    _alert(session, brookfield, "2026-10-07 10:00", "bullying", 3, new, "bullying.insults")
    _alert(
        session,
        brookfield,
        "2026-11-09 10:00",
        "bullying",
        2,
        no_concern,
        "bullying.insults",
        triaged="2026-11-09 10:02",
    )
    _alert(
        session,
        brookfield,
        "2026-11-10 10:00",
        "violence",
        2,
        no_concern,
        "violence.fight",
        triaged="2026-11-10 10:05",
    )

    officer = User(
        username="sam", display_name="Sam Officer", role=Role.officer, consoles="primary,secondary"
    )
    dsl = User(
        username="dee",
        display_name="Dee Lead",
        role=Role.dsl,
        school_id=hillside.id,
        email="dsl@hillside.example",
    )
    session.add_all([officer, dsl])
    session.flush()

    def case(
        school: School,
        title: str,
        status: CaseStatus,
        opened: str,
        due: str,
        owner: User | None = None,
        closed: str | None = None,
    ) -> Case:
        record = Case(
            school_id=school.id,
            pupil="pupil.one",
            title=title,
            type=CaseType.wellbeing,
            severity=3,
            status=status,
            owner_id=owner.id if owner else None,
            opened_at=utc(opened),
            clock_started_on=utc(opened).date(),
            due_on=date.fromisoformat(due),
            closed_at=utc(closed) if closed else None,
        )
        session.add(record)
        session.flush()
        return record

    case_a = case(
        hillside, "A", CaseStatus.closed, "2026-10-05 14:00", "2026-10-25", officer, closed="2026-10-20 12:00"
    )
    case_b = case(hillside, "B", CaseStatus.investigating, "2026-10-12 10:00", "2026-10-30", officer)
    case(
        hillside, "C", CaseStatus.closed, "2026-10-21 10:00", "2026-11-03", officer, closed="2026-11-10 12:00"
    )
    case(brookfield, "D", CaseStatus.allocated, "2026-10-22 10:00", "2026-11-06", officer)
    case_e = case(hillside, "E", CaseStatus.new, "2026-10-30 12:00", "2026-11-13")
    case(hillside, "F", CaseStatus.new, "2026-11-05 12:00", "2026-11-20")  # opened after week 44
    session.add_all(
        [
            CaseEntry(
                case_id=case_b.id, at=utc("2026-10-20 10:00"), actor="sam", kind="note", text="Called home"
            ),
            CaseEntry(
                case_id=case_b.id, at=utc("2026-10-27 10:00"), actor="sam", kind="note", text="Spoke to pupil"
            ),
            CaseEntry(
                case_id=case_e.id, at=utc("2026-10-30 12:00"), actor="sam", kind="opened", text="Case opened"
            ),
        ]
    )

    def raised(school: School, category: str, at: str, case_record: Case | None) -> Incident:
        record = Incident(
            school_id=school.id,
            case_id=case_record.id if case_record else None,
            pupil="pupil.one",
            device_id=pc1,
            category=category,
            risk=4,
            summary="s",
            created_by="sam",
            created_at=utc(at),
        )
        session.add(record)
        session.flush()
        return record

    first = raised(hillside, "self_harm", "2026-10-05 13:18", case_a)
    second = raised(hillside, "self_harm", "2026-10-12 09:50", case_b)
    third = raised(hillside, "bullying", "2026-10-20 08:55", None)
    raised(hillside, "bullying", "2026-09-20 08:55", None)  # September

    def escalation(
        incident: Incident,
        started: str,
        status: EscalationStatus,
        ack_minutes: int | None,
        acknowledged: str | None,
    ) -> None:
        session.add(
            Escalation(
                incident_id=incident.id,
                school_id=incident.school_id,
                level=4,
                status=status,
                ack_minutes=ack_minutes,
                started_at=utc(started),
                acknowledged_at=utc(acknowledged) if acknowledged else None,
            )
        )

    escalation(first, "2026-10-05 13:20", EscalationStatus.acknowledged, 30, "2026-10-05 13:35")
    escalation(second, "2026-10-12 10:00", EscalationStatus.acknowledged, 30, "2026-10-12 11:00")
    escalation(third, "2026-10-20 09:00", EscalationStatus.exhausted, 60, None)
    escalation(third, "2026-10-20 09:05", EscalationStatus.digested, None, None)
    session.flush()
    return History(hillside=hillside.id, brookfield=brookfield.id)
