"""A DSL reads the monthly report in headless Chromium: figures, charts, and the PDF and CSV downloads."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker

from conftest import REPO
from console.people.models import Role, User
from console.store import transaction
from reports.history import build
from support.web import PASSWORD, password_hash, serve

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dsl_reads_and_downloads_the_monthly_report(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with transaction(sessions) as session:
        history = build(session)
        session.add(
            User(
                username="dsl.hs",
                display_name="Dee Lead",
                password_hash=password_hash(),
                role=Role.dsl,
                school_id=history.hillside,
            )
        )
    path = f"/reports/monthly/{history.hillside}/2026-10"
    with serve(sessions, tmp_path) as web, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page.goto(web.url + path)
            expect(page).to_have_url(re.compile(r"/login\?next="))
            page.get_by_label("Username").fill("dsl.hs")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(web.url + path)

            expect(page.get_by_role("heading", level=1)).to_have_text(
                "Monthly safeguarding report: Hillside School"
            )
            facts = page.locator("dl.facts")
            for label, value in [
                ("Devices enrolled", "6"),
                ("Devices seen", "4"),
                ("Coverage", "66.7 %"),
                ("Alerts", "7"),
                ("False-positive share (of triaged)", "50.0 %"),
                ("Incidents raised", "3"),
                ("Mean time to acknowledge", "37.5 min"),
                ("Acknowledged within target", "33.3 %"),
            ]:
                expect(facts.locator("dt", has_text=re.compile(f"^{re.escape(label)}$"))).to_have_count(1)
                expect(facts.locator(f'dt:text-is("{label}") + dd')).to_have_text(value)
            silent = page.locator(
                "section", has=page.get_by_role("heading", name=re.compile("^Silent devices"))
            )
            expect(silent.locator("tbody tr")).to_have_count(2)
            expect(silent).to_contain_text("hs-pc2")

            # Both charts are drawn, in the page's width, with their titles as text.
            charts = page.locator("figure svg")
            expect(charts).to_have_count(2)
            for index, title in enumerate(["Alerts per month by category", "Alerts by hour of day"]):
                chart = charts.nth(index)
                expect(chart).to_be_visible()
                expect(chart).to_contain_text(title)
                box = chart.bounding_box()
                assert box is not None and 300 < box["width"] <= 1280 and box["height"] > 100, box

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-monthly.png"), full_page=True)

            with page.expect_download() as pdf_download:
                page.get_by_role("link", name="Download PDF").click()
            assert pdf_download.value.suggested_filename == f"monthly-{history.hillside}-2026-10.pdf"
            pdf = Path(pdf_download.value.path()).read_bytes()
            text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
            assert "Coverage 66.7 %" in re.sub(r"\s+", " ", text)

            with page.expect_download() as csv_download:
                page.get_by_role("link", name="Download CSV").click()
            assert csv_download.value.suggested_filename == f"monthly-{history.hillside}-2026-10.csv"
            csv = Path(csv_download.value.path()).read_text(encoding="utf-8")
            assert "Coverage,66.7 %" in csv and "bullying,0,3,0,1,0,4" in csv
        finally:
            browser.close()
