"""The menu offers each role exactly the pages it may open, and each landing page starts with what needs acting on:
overdue escalations for officers, incidents awaiting acknowledgement for a school's DSL."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from incidents import factories
from playwright.sync_api import expect
from sqlalchemy.orm import Session, sessionmaker

from console.escalation import service as escalation
from console.escalation.models import EscalationStatus
from console.incidents import flows as incident_flows
from console.incidents.models import IncidentCreate
from console.schools.models import School
from console.settings import Settings
from console.store import transaction, utcnow
from support.web import add_alert, seed, serve
from web.test_browser import browser, shot, sign_in  # noqa: F401  (browser is a fixture)

MENU = ["/alerts", "/incidents", "/cases", "/schools", "/devices", "/reports", "/records", "/audit", "/people"]
EXPECTED = {
    "admin": set(MENU),
    "officer": {"/alerts", "/incidents", "/cases", "/schools", "/devices", "/reports"},
    "dsl": {"/alerts", "/incidents", "/cases", "/schools", "/devices", "/reports"},
    "technician": {"/schools", "/devices"},
    "governance": {"/incidents", "/cases", "/schools", "/devices", "/reports", "/records"},
    "auditor": {"/audit"},
}


def _menu(html: str) -> set[str]:
    nav = re.search(r"<nav>(.*?)</nav>", html, re.S)
    assert nav is not None
    return set(re.findall(r'href="([^"]+)"', nav.group(1)))


def test_each_role_is_offered_exactly_the_pages_it_may_open(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    seed(sessions)
    with serve(sessions, tmp_path) as web:
        for username, expected in EXPECTED.items():
            client = web.login(username)
            home = client.get("/account")
            assert home.status_code == 200
            assert _menu(home.text) == expected, username
            for path in MENU:  # what is offered opens; what is not would be refused
                status = client.get(path).status_code
                assert status == (200 if path in expected else 403), (username, path, status)


def _escalate(sessions: sessionmaker[Session], tmp_path: Path, school_id: int, alert_id: int, *, minutes_left: int,
              pupil_category: str = "self_harm") -> int:
    """An incident whose DSL was emailed, due to acknowledge ``minutes_left`` from now (negative: overdue)."""
    settings = Settings(data_dir=tmp_path)
    now = utcnow()
    with transaction(sessions) as session:
        school = session.get_one(School, school_id)
        if not escalation.contacts(session=session, school_id=school_id):
            factories.contacts(session, school, now, domain=f"s{school_id}.example")
        incident = incident_flows.raise_incident(
            session=session, settings=settings, actor="officer", now=now - timedelta(minutes=20),
            data=IncidentCreate(alert_ids=[alert_id], summary="Concern.", category=pupil_category, risk=5))
        [record] = escalation.for_incident(session=session, incident_id=incident.id)
        record.pending_contact_id, record.notified_at = None, now - timedelta(minutes=20)
        record.ack_due_at = now + timedelta(minutes=minutes_left)
        return incident.id


def test_landing_pages_show_overdue_escalations_and_incidents_awaiting_acknowledgement(
    sessions: sessionmaker[Session], tmp_path: Path, browser  # noqa: F811
) -> None:
    ids = seed(sessions)
    with transaction(sessions) as session:
        second = add_alert(session, school_id=ids.riverside, seq=9, user="zoe.king", minutes_ago=5).id
    overdue = _escalate(sessions, tmp_path, ids.riverside, ids.alert, minutes_left=-5)
    waiting = _escalate(sessions, tmp_path, ids.riverside, second, minutes_left=10)
    acknowledged_elsewhere = _escalate(sessions, tmp_path, ids.hillside, ids.hillside_alert, minutes_left=-5)
    with transaction(sessions) as session:
        [record] = escalation.for_incident(session=session, incident_id=acknowledged_elsewhere)
        record.status = EscalationStatus.acknowledged

    with serve(sessions, tmp_path) as web:
        # The officer (secondary console): the overdue one at the top, not the one still in time.
        officer = sign_in(browser, web.url, "officer")
        expect(officer).to_have_url(f"{web.url}/alerts")
        section = officer.locator("section.overdue-escalations")
        expect(section).to_be_visible()
        expect(section.get_by_role("link", name=str(overdue), exact=True)).to_be_visible()
        expect(section).to_contain_text("Riverside Academy")
        expect(section.get_by_role("link", name=str(waiting), exact=True)).to_have_count(0)
        assert officer.locator("section.overdue-escalations").bounding_box()["y"] < \
            officer.get_by_role("heading", name="Triage queue").bounding_box()["y"]
        expect(officer.locator("section.awaiting-acknowledgement")).to_have_count(0)
        for label in ("Incidents", "Cases", "Devices"):
            expect(officer.locator("nav").get_by_role("link", name=label)).to_be_visible()
        expect(officer.locator("nav").get_by_role("link", name="Records")).to_have_count(0)
        shot(officer, "officer-landing-overdue")

        # Riverside's DSL: both unacknowledged incidents at their school, and no overdue panel of every school.
        dsl = sign_in(browser, web.url, "dsl")
        expect(dsl).to_have_url(f"{web.url}/alerts")
        awaiting = dsl.locator("section.awaiting-acknowledgement")
        expect(awaiting.get_by_role("link", name=str(overdue), exact=True)).to_be_visible()
        expect(awaiting.get_by_role("link", name=str(waiting), exact=True)).to_be_visible()
        expect(awaiting).to_contain_text("zoe.king")
        expect(dsl.locator("section.overdue-escalations")).to_have_count(0)
        shot(dsl, "dsl-landing-awaiting")
        dsl.locator("nav").get_by_role("link", name="Incidents").click()
        expect(dsl).to_have_url(f"{web.url}/incidents")

        # Hillside's DSL: theirs was acknowledged, and Riverside's are not theirs to see.
        other = sign_in(browser, web.url, "dsl.hillside")
        expect(other.locator("section.awaiting-acknowledgement")).to_contain_text("No incident is waiting")
