"""The monthly report as PDF (valid, with its figures) and CSV, the monthly email to the DSL, and the CLI."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from console.cli import app
from console.reports import documents, flows, service
from console.settings import Settings
from console.store import transaction
from incidents.servers import smtp_server
from reports.history import History, build

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def history(sessions: sessionmaker[Session]) -> History:
    with transaction(sessions) as session:
        return build(session)


def _monthly(sessions: sessionmaker[Session], history: History) -> documents.Document:
    with transaction(sessions) as session:
        return documents.monthly_document(
            service.monthly(session=session, school_id=history.hillside, month="2026-10", tz=LONDON)
        )


def _pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_monthly_pdf_is_valid_and_holds_the_figures(
    sessions: sessionmaker[Session], history: History
) -> None:
    pdf = documents.pdf(_monthly(sessions, history))
    assert pdf.startswith(b"%PDF-")
    text = _pdf_text(pdf)
    for expected in [
        "Monthly safeguarding report: Hillside School",
        "Devices enrolled 6",
        "Devices seen 4",
        "Coverage 66.7 %",
        "Events received 7",
        "Alerts 7",
        "False-positive share (of triaged) 50.0 %",
        "Incidents raised 3",
        "Escalations 4",
        "Escalations acknowledged 2",
        "Mean time to acknowledge 37.5 min",
        "Acknowledged within target 33.3 %",
        "hs-pc2",
        "hs-pc8",
        "bullying 0 3 0 1 0 4",
        "self harm 0 0 1 0 2 3",
        "All categories 0 3 1 1 2 7",
        "7 6 3 50.0 %",
        "Year 7 4",
        "Year 9 2",
        "not known 1",
        "14:00 5",
        "00:00 1",
        "09:00 1",
        "no case 1",
        "investigating 1",
        "4 2 37.5 60.0 3 1 33.3 %",
        "Alerts per month by category",
        "Alerts by hour of day",  # the charts' titles (SVG text)
    ]:
        assert expected in text, expected


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_monthly_csv_holds_the_page_tables(sessions: sessionmaker[Session], history: History) -> None:
    rows = list(csv.reader(io.StringIO(documents.to_csv(_monthly(sessions, history)))))
    assert ["Coverage", "66.7 %"] in rows
    assert ["bullying", "0", "3", "0", "1", "0", "4"] in rows
    assert ["Category", "2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"] in rows
    assert ["self harm", "0", "0", "0", "1", "0", "3"] in rows
    assert ["14:00", "5"] in rows
    assert ["hs-pc2", "hs-pc2-0000", "2026-09-25 16:00"] in rows  # 15:00 UTC, in BST


def test_monthly_run_stores_and_emails_the_dsl_once(
    sessions: sessionmaker[Session], history: History, tmp_path: Path
) -> None:
    now = datetime(2026, 11, 1, 6, tzinfo=timezone.utc)
    with smtp_server() as (mailbox, port):
        settings = Settings(data_dir=tmp_path, smtp_port=port, public_url="https://safeguard.example")
        flows.monthly_run(sessions=sessions, settings=settings, now=now)
        flows.monthly_run(
            sessions=sessions, settings=settings, now=now
        )  # a second run finds it made and sent
    [message] = mailbox.to("dsl@hillside.example")
    assert message["Subject"] == "Monthly safeguarding report: Hillside School (2026-10)"
    body = message.get_body(("plain",)).get_content()
    assert "Coverage: 66.7 %" in body and "https://safeguard.example/reports/monthly/" in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "safeguard-2026-10.pdf"
    assert "Hillside School" in _pdf_text(attachment.get_content())
    with transaction(sessions) as session:
        stored = {s.school_id: s for s in service.list_stored(session=session)}
        assert stored[history.hillside].sent_at == now
        assert stored[history.hillside].generated_by == "scheduler"
        assert stored[history.hillside].figures["alerts_total"] == 7
        # Brookfield has no DSL account with an email: made, not sent (retried on the next run).
        assert stored[history.brookfield].sent_at is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_report_commands(
    sessions: sessionmaker[Session], history: History, database_url: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SAFEGUARD_DATABASE_URL", database_url)
    monkeypatch.setenv("SAFEGUARD_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "report",
            "monthly",
            "--school",
            "Hillside School",
            "--month",
            "2026-10",
            "--pdf",
            str(tmp_path / "m.pdf"),
            "--csv",
            str(tmp_path / "m.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Coverage: 66.7 %" in result.output and "Alerts: 7" in result.output
    assert "Coverage 66.7 %" in _pdf_text((tmp_path / "m.pdf").read_bytes())
    assert "Coverage,66.7 %" in (tmp_path / "m.csv").read_text()
    with transaction(sessions) as session:
        assert (
            service.get_stored(session=session, school_id=history.hillside, month="2026-10").generated_by
            == "cli"
        )

    result = runner.invoke(app, ["report", "quarterly", "--quarter", "2026-Q4"])
    assert (
        result.exit_code == 0
        and "Coverage: 75.0 %" in result.output
        and "Alerts per 100 devices: 137.5" in result.output
    )
    assert "Median minutes from alert to triage: 8.0" in result.output
    result = runner.invoke(app, ["report", "weekly", "--week", "2026-W44"])
    assert result.exit_code == 0 and "Open cases: 3" in result.output
    result = runner.invoke(
        app,
        ["report", "rules", "--from", "2026-10-01", "--to", "2026-10-31", "--csv", str(tmp_path / "r.csv")],
    )
    assert result.exit_code == 0 and "Alerts: 9" in result.output
    assert "bullying.insults,bullying,5,3,2,66.7 %" in (tmp_path / "r.csv").read_text()

    for arguments, message in [
        (["monthly", "--school", "Nowhere", "--month", "2026-10"], "no school named 'Nowhere'"),
        (
            ["monthly", "--school", "Hillside School", "--month", "2026-13"],
            "month '2026-13' is not of the form YYYY-MM",
        ),
        (["quarterly", "--quarter", "2026-Q9"], "quarter '2026-Q9' is not of the form YYYY-Qn"),
        (["weekly", "--week", "2026-W99"], "week '2026-W99' is not an ISO week"),
        (
            ["rules", "--from", "2026-10-31", "--to", "2026-10-01"],
            "the period ends (2026-10-01) before it starts (2026-10-31)",
        ),
    ]:
        result = runner.invoke(app, ["report", *arguments])
        assert result.exit_code == 1 and message in result.output, (arguments, result.output)
