"""The officers' console in headless Chromium: live queue, alert detail, reveal, triage, and a DSL kept out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import REPO
from console.alerts.models import Alert, AlertStatus
from console.audit.models import AuditEntry
from console.audit.service import verify
from console.store import transaction
from support.web import PASSWORD, add_alert, seed, serve

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(browser: Browser, url: str, username: str) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{url}/alerts")
    expect(page).to_have_url(f"{url}/login?next=%2Falerts")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_officer_triages_a_live_alert_and_another_schools_dsl_cannot_see_it(
    sessions: sessionmaker[Session], tmp_path: Path, browser: Browser, database_url: str
) -> None:
    ids = seed(sessions)
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    with serve(sessions, tmp_path) as web:
        page = sign_in(browser, web.url, "officer")
        expect(page.locator("#queue")).to_contain_text("look at these nude pics")
        # A new alert arrives while the page is open: the queue shows it without a reload.
        with transaction(sessions) as session:
            live = add_alert(session, school_id=ids.riverside, seq=50, category="self_harm", risk=5,
                             user="oliver.smith", text="nobody would miss me if i was gone", phrase="nobody would miss me")
            live_id = live.id
        expect(page.locator(f'#queue tr[data-alert-id="{live_id}"]')).to_be_visible(timeout=15_000)
        shot(page, f"queue-{backend}")

        # Keyboard: j selects the first row (highest risk, oldest), Enter opens it.
        page.keyboard.press("j")
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{web.url}/alerts/{ids.alert}")
        expect(page.locator("#matched mark")).to_have_text("nude pics")
        image = page.locator(f"#screenshot-{ids.screenshot} img")
        expect(image).to_have_class("blurred")
        shot(page, f"alert-blurred-{backend}")

        page.get_by_label("Reason").first.fill("checking whether the pupil is at risk")
        page.get_by_role("button", name="Reveal").click()
        expect(page.locator(f"#screenshot-{ids.screenshot} img")).to_have_class("revealed")
        shot(page, f"alert-revealed-{backend}")

        page.keyboard.press("f")
        page.keyboard.type("song lyrics, not about the pupil")
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_have_text("false positive")
        shot(page, f"alert-decided-{backend}")

        # The DSL of another school signs in and cannot see it, in the queue or by its address.
        other = sign_in(browser, web.url, "dsl.hillside")
        expect(other.locator("#queue")).to_contain_text("i want to hurt myself")
        expect(other.locator("#queue")).not_to_contain_text("nude pics")
        other.goto(f"{web.url}/alerts/{ids.alert}")
        expect(other.locator("body")).to_contain_text(f"no alert {ids.alert}")
        reply = other.request.get(f"{web.url}/alerts/{ids.alert}/screenshots/{ids.screenshot}")
        assert reply.status == 404
        shot(other, f"dsl-other-school-{backend}")

        for path, name in (("/schools", "schools"), (f"/schools/{ids.riverside}", "school")):
            page.goto(web.url + path)
            shot(page, f"{name}-{backend}")
        auditor = sign_in(browser, web.url, "auditor")
        auditor.goto(f"{web.url}/audit?object_type=screenshot")
        expect(auditor.locator("table.audit")).to_contain_text("checking whether the pupil is at risk")
        shot(auditor, f"audit-{backend}")

    with transaction(sessions) as session:
        alert = session.get_one(Alert, ids.alert)
        assert (alert.status, alert.triaged_by, alert.triage_reason) == (
            AlertStatus.false_positive, "officer", "song lyrics, not about the pupil")
        actions = {(e.actor, e.action, e.object_type, e.object_id) for e in session.scalars(select(AuditEntry))}
        assert {("officer", "view", "alert", str(ids.alert)),
                ("officer", "reveal_screenshot", "screenshot", str(ids.screenshot)),
                ("officer", "view", "screenshot", str(ids.screenshot)),
                ("officer", "triage", "alert", str(ids.alert))} <= actions
        assert not any(actor == "dsl.hillside" and obj == str(ids.alert) for actor, _, kind, obj in actions
                       if kind == "alert")
        checked, breaks = verify(session=session)
        assert checked > 0 and breaks == []
