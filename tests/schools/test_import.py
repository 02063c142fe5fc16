"""CSV import of pupils and devices: good rows land, each bad row is refused with its line and reason."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from console.schools import service as schools
from console.schools.models import Phase
from console.store import transaction
from support.web import csrf_of, seed, serve

PUPILS = """\ufeffUPN,Surname,Forename,Year,Reg,Username
A123456789012,Jones,Amelia,Year 7,7B,amelia.jones
B123456789012,Smith,Oliver,8,8A,oliver.smith
C12345,Khan,Isla,Year 7,7B,isla.khan
D123456789012,,Noah,Year 7,7B,noah.w
E123456789012,Patel,Ava,Year 19,,ava.patel
A123456789012,Jones,Amelia,Year 7,7B,amelia.jones
F123456789012,Brown,Leo,R,,amelia.jones
"""


def test_pupils_import_reports_each_bad_row(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        school = schools.create(session=session, name="Riverside", phase=Phase.secondary)
        result = schools.import_pupils(session=session, school=school, text=PUPILS)
        assert (result.created, result.updated) == (2, 0)
        assert result.errors == [
            (4, "UPN 'C12345' is not a letter and 12 digits"),
            (5, "Surname must be 1 to 100 characters"),
            (6, "Year 'Year 19' is not a year group (1 to 14, R or N)"),
            (7, "UPN A123456789012 appears twice in the file"),
            (8, "Username 'amelia.jones' belongs to another pupil (A123456789012)"),
        ]
        names = {group.name for group in schools.groups(session=session, school_id=school.id)}
        assert names == {"Year 7", "Year 8", "7B", "8A"}
        # Importing again updates by UPN instead of duplicating.
        again = schools.import_pupils(session=session, school=school,
                                      text="UPN,Surname,Forename,Year,Reg,Username\nA123456789012,Jones,Amy,7,7C,amy.jones\n")
        assert (again.created, again.updated, again.errors) == (0, 1, [])
        pupil = schools.pupil_by_username(session=session, school_id=school.id, username="amy.jones")
        assert pupil is not None and pupil.forename == "Amy"


def test_a_file_with_the_wrong_columns_is_refused_whole(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        school = schools.create(session=session, name="Riverside", phase=Phase.secondary)
        with pytest.raises(schools.ImportRefused, match="missing: Reg, Username"):
            schools.import_pupils(session=session, school=school, text="UPN,Surname,Forename,Year\n")
        with pytest.raises(schools.ImportRefused, match="missing: Hostname"):
            schools.import_devices(session=session, school=school, text="Name,Asset Tag,Room,Operating System\n")


def test_devices_import(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        school = schools.create(session=session, name="Riverside", phase=Phase.secondary)
        result = schools.import_devices(session=session, school=school, text=(
            "Hostname,Asset Tag,Room,Operating System\n"
            "RA-IT1-01,A0001,IT1,Windows 11\nra-it1-01,A0002,IT1,Windows 11\nbad host,A0003,IT2,Windows 10\n"
            "RA-LIB-02,,Library,ChromeOS\n"))
        assert (result.created, result.updated) == (2, 0)
        assert result.errors == [(3, "Hostname ra-it1-01 appears twice in the file"),
                                 (4, "Hostname 'bad host' is not a host name (letters, digits, dots and hyphens)")]


def test_import_over_http_by_role(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ids = seed(sessions)
    with serve(sessions, tmp_path) as web, web.client() as client:
        dsl = {"Authorization": f"Bearer {web.api_token('dsl')}", "Content-Type": "text/csv"}
        reply = client.post(f"/api/schools/{ids.riverside}/pupils/import", headers=dsl, content=PUPILS.encode())
        assert reply.status_code == 200 and reply.json()["created"] == 2 and len(reply.json()["errors"]) == 5
        reply = client.post(f"/api/schools/{ids.riverside}/pupils/import", headers=dsl, content=b"UPN\n")
        assert reply.status_code == 422 and "missing" in reply.json()["detail"]
        # A DSL imports for their own school only; a technician imports devices, never pupils.
        assert client.post(f"/api/schools/{ids.hillside}/pupils/import", headers=dsl, content=PUPILS.encode()).status_code == 404
        technician = {**dsl, "Authorization": f"Bearer {web.api_token('technician')}"}
        assert client.post(f"/api/schools/{ids.riverside}/pupils/import", headers=technician,
                           content=PUPILS.encode()).status_code == 403
        reply = client.post(f"/api/schools/{ids.riverside}/devices/import", headers=technician,
                            content=b"Hostname,Asset Tag,Room,Operating System\nRA-01,A1,IT1,Windows 11\n")
        assert reply.json() == {"created": 1, "updated": 0, "errors": []}


def test_pupils_import_dates_of_birth(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    today = date(2024, 9, 1)
    text = ("UPN,Surname,Forename,Year,Reg,Username,Date of Birth\n"
            "A123456789012,Jones,Amelia,Year 7,7B,amelia.jones,14/03/2013\n"
            "B123456789012,Smith,Oliver,8,8A,oliver.smith,2012-11-30\n"
            "C123456789012,Khan,Isla,7,7B,isla.khan,\n"
            "D123456789012,Wood,Noah,7,7B,noah.wood,31/02/2013\n"
            "E123456789012,Patel,Ava,7,7B,ava.patel,03/14/2013\n"
            "F123456789012,Brown,Leo,7,7B,leo.brown,01/01/2030\n"
            "G123456789012,Green,Mia,7,7B,mia.green,01/01/1970\n")
    with transaction(sessions) as session:
        school = schools.create(session=session, name="Riverside", phase=Phase.secondary)
        result = schools.import_pupils(session=session, school=school, text=text, today=today)
        assert (result.created, result.updated) == (3, 0)
        assert result.errors == [
            (5, "Date of Birth '31/02/2013' is not a date (DD/MM/YYYY or YYYY-MM-DD)"),
            (6, "Date of Birth '03/14/2013' is not a date (DD/MM/YYYY or YYYY-MM-DD)"),
            (7, "Date of Birth '01/01/2030' is in the future"),
            (8, "Date of Birth '01/01/1970' is more than 30 years ago"),
        ]
        born = {p.username: p.date_of_birth for p in schools.pupils(session=session, school_id=school.id)}
        assert born == {"amelia.jones": date(2013, 3, 14), "oliver.smith": date(2012, 11, 30), "isla.khan": None}
        # The column is optional, may be called DOB, and a blank keeps what was recorded.
        again = schools.import_pupils(session=session, school=school, today=today, text=(
            "UPN,Surname,Forename,Year,Reg,Username\nA123456789012,Jones,Amelia,7,7B,amelia.jones\n"))
        assert (again.updated, again.errors) == (1, [])
        dob = schools.import_pupils(session=session, school=school, today=today, text=(
            "UPN,Surname,Forename,Year,Reg,Username,DOB\nC123456789012,Khan,Isla,7,7B,isla.khan,02/05/2013\n"
            "B123456789012,Smith,Oliver,8,8A,oliver.smith,\n"))
        assert (dob.updated, dob.errors) == (2, [])
        born = {p.username: p.date_of_birth for p in schools.pupils(session=session, school_id=school.id)}
        assert born == {"amelia.jones": date(2013, 3, 14), "oliver.smith": date(2012, 11, 30),
                        "isla.khan": date(2013, 5, 2)}


def test_pupil_page_shows_the_date_of_birth(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ids = seed(sessions)
    with serve(sessions, tmp_path) as web:
        dsl = web.login("dsl")
        reply = dsl.post(f"/api/schools/{ids.riverside}/pupils/import",
                         headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf_of(dsl.get("/account").text)},
                         content=b"UPN,Surname,Forename,Year,Reg,Username,Date of Birth\n"
                                 b"A123456789012,Jones,Amelia,7,7B,amelia.jones,14/03/2013\n"
                                 b"B123456789012,Smith,Oliver,8,8A,oliver.smith,\n")
        assert reply.status_code == 200 and reply.json()["created"] == 2, reply.text
        with transaction(sessions) as session:
            found = {p.username: p.id for p in schools.pupils(session=session, school_id=ids.riverside)}
        page = dsl.get(f"/schools/{ids.riverside}/pupils/{found['amelia.jones']}")
        assert page.status_code == 200 and '<dd class="dob">14 Mar 2013</dd>' in page.text
        page = dsl.get(f"/schools/{ids.riverside}/pupils/{found['oliver.smith']}")
        assert '<dd class="dob">not recorded</dd>' in page.text
        api = dsl.get(f"/api/schools/{ids.riverside}/pupils").json()
        assert {p["username"]: p["date_of_birth"] for p in api} == {"amelia.jones": "2013-03-14", "oliver.smith": None}
