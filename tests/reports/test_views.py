"""The report pages over HTTP on a real server: who may see which report, downloads and bad input."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from console.people.models import Role, User
from console.store import transaction
from reports.history import build
from support.web import csrf_of, password_hash, serve


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_report_pages(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with transaction(sessions) as session:
        history = build(session)
        session.add_all(
            [
                User(
                    username="dsl.hs",
                    password_hash=password_hash(),
                    role=Role.dsl,
                    school_id=history.hillside,
                ),
                User(username="gov", password_hash=password_hash(), role=Role.governance),
            ]
        )
    monthly = f"/reports/monthly/{history.hillside}/2026-10"
    with serve(sessions, tmp_path) as web:
        dsl = web.login("dsl.hs")
        index = dsl.get("/reports")
        assert index.status_code == 200
        assert 'href="/reports"' in index.text  # the nav link
        assert f'href="/reports/monthly/{history.hillside}/' in index.text
        assert f"/reports/monthly/{history.brookfield}/" not in index.text  # not their school
        assert "/reports/weekly/" not in index.text

        page = dsl.get(monthly)
        assert page.status_code == 200
        assert "<svg" in page.text and "66.7 %" in page.text and "Generated" in page.text
        assert dsl.get(monthly + "/pdf").content.startswith(b"%PDF-")
        download = dsl.get(monthly + "/csv")
        assert download.headers["content-type"].startswith("text/csv") and "Coverage,66.7 %" in download.text
        assert "2026-10" in dsl.get("/reports").text  # listed with the generated reports

        regenerated = dsl.post(monthly + "/regenerate", data={"csrf_token": csrf_of(page.text)})
        assert regenerated.status_code == 303 and regenerated.headers["location"] == monthly
        assert "by dsl.hs" in dsl.get(monthly).text
        assert dsl.post(monthly + "/regenerate", data={}).status_code == 403  # no CSRF token

        assert dsl.get(f"/reports/monthly/{history.brookfield}/2026-10").status_code == 404
        assert dsl.get("/reports/weekly/2026-W44").status_code == 403
        bad = dsl.get(f"/reports/monthly/{history.hillside}/2026-13")
        assert bad.status_code == 400 and "not of the form YYYY-MM" in bad.text
        assert dsl.get(monthly + "/xls").status_code == 422

        gov = web.login("gov")
        weekly = gov.get("/reports/weekly/2026-W44")
        assert weekly.status_code == 200 and "Sam Officer" in weekly.text and "2 overdue" in weekly.text
        quarterly = gov.get("/reports/quarterly/2026-Q4")
        assert quarterly.status_code == 200 and "137.5" in quarterly.text and "<svg" in quarterly.text
        rows = list(csv.reader(io.StringIO(gov.get("/reports/quarterly/2026-Q4/csv").text)))
        assert ["Median minutes from alert to triage", "8.0"] in rows
        assert ["90th percentile minutes from alert to triage", "186.0"] in rows
        triage = rows[rows.index(["Time from alert to triage"]) + 1 :][:4]
        assert triage == [
            [
                "School",
                "Alerts with a triage time",
                "Median minutes alert to triage",
                "90th percentile minutes alert to triage",
            ],
            ["Brookfield Primary", "2", "3.5", "4.7"],
            ["Hillside School", "6", "20.0", "270.0"],
            ["All schools", "8", "8.0", "186.0"],
        ]
        assert gov.get("/reports/quarterly/2026-Q4/pdf").content.startswith(b"%PDF-")
        rules = gov.get("/reports/rules/2026-10-01/2026-10-31/csv")
        assert "bullying.insults,bullying,5,3,2,66.7 %" in rules.text
        bad = gov.get("/reports/rules/2026-10-31/2026-10-01")
        assert bad.status_code == 400 and "before it starts" in bad.text
        assert gov.get("/reports/quarterly/2026-Q7").status_code == 400
