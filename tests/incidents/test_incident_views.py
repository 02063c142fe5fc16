"""The pages and API on the real console: raising an incident from the alert page's form, the report
page and PDF, working the case through its forms, records exports, and who may see what."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from incidents import factories
from incidents.servers import Mailbox, smtp_server, wait_for, web_server
from sqlalchemy.orm import Session, sessionmaker

from console.incidents.models import Incident
from console.ingest.streams import LiveStreams
from console.people import service as people
from console.people.models import Role
from console.settings import Settings
from console.store import transaction, utcnow
from console.web.app import create_app


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as server:
        yield server


def test_raise_and_work_a_case_through_the_pages(sessions: sessionmaker[Session], smtp: tuple[Mailbox, int],
                                                 tmp_path: Path) -> None:
    mailbox, smtp_port = smtp
    settings = Settings(data_dir=tmp_path, secret_key="k" * 40, smtp_port=smtp_port)
    now = utcnow()
    with transaction(sessions) as session:
        school = factories.school(session)
        elsewhere = factories.school(session, "Elsewhere Primary")
        factories.contacts(session, school, now)
        alert = factories.alert(session, school, at=now - timedelta(minutes=3))
        tokens = {}
        for username, role, school_id in [("officer", Role.officer, None), ("admin", Role.admin, None),
                                          ("other.dsl", Role.dsl, elsewhere.id), ("tech", Role.technician, school.id)]:
            user = people.create(session=session, username=username, password="a long password 1", role=role,
                                 school_id=school_id)
            tokens[username] = people.create_api_token(session=session, user=user, name="test")[0]
        alert_id, school_id = alert.id, school.id

    with web_server(create_app(settings=settings, sessions=sessions, streams=LiveStreams()), free_port()) as base:
        def as_(who: str) -> httpx.Client:
            return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens[who]}"})

        officer, admin = as_("officer"), as_("admin")
        form = officer.post(f"/incidents/new?alert_ids={alert_id}")
        assert form.status_code == 200 and "How to tie knots" in form.text and 'value="self_harm"' in form.text
        assert officer.post("/incidents/new?alert_ids=1,x").status_code == 422
        assert as_("tech").post(f"/incidents/new?alert_ids={alert_id}").status_code == 403

        fields = {"alert_ids": str(alert_id), "category": "self_harm", "risk": "5", "actions": "Call home."}
        refused = officer.post("/incidents", data=fields | {"summary": "  "})
        assert refused.status_code == 422 and "summary" in refused.text
        with transaction(sessions) as session:
            assert session.query(Incident).count() == 0
        evidence = re.findall(r'name="evidence" value="([^"]+)"', form.text)
        created = officer.post("/incidents", data=fields | {"summary": "Stated intent.", "evidence": evidence})
        assert created.status_code == 303
        incident_url = created.headers["location"]
        wait_for(lambda: len(mailbox.messages) == 1)  # sent by the console's sender once the request committed
        page = officer.get(incident_url)
        assert page.status_code == 200 and "Stated intent." in page.text and "awaiting ack" in page.text
        assert "dsl@hillside.example" in page.text  # the delivery log
        assert officer.get(incident_url + "/report.pdf").content.startswith(b"%PDF")
        assert as_("other.dsl").get(incident_url).status_code == 404
        assert [m["To"] for m in mailbox.messages] == ["dsl@hillside.example"]

        [incident] = officer.get("/api/incidents").json()
        case_url = f"/cases/{incident['case_id']}"
        case_page = officer.get(case_url)
        assert case_page.status_code == 200 and "child protection" in case_page.text
        officer_id = int(re.search(r'<option value="(\d+)"[^>]*>officer</option>', case_page.text).group(1))
        for path, data in [("/allocate", {"owner_id": officer_id}), ("/status", {"to": "investigating"}),
                           ("/tasks", {"title": "Call parents", "due_on": "2030-01-07"}),
                           ("/decisions", {"decision": "Refer", "rationale": "Intent and plan"}),
                           ("/status", {"to": "action_taken"})]:
            assert officer.post(case_url + path, data=data).status_code == 303, path
        assert officer.post(case_url + "/documents", files={"document": ("note.txt", b"spoke to mum", "text/plain")}) \
            .status_code == 303
        early = officer.post(case_url + "/close", data={"outcome": "done"})
        assert early.status_code == 422 and "open tasks: Call parents" in early.text
        assert officer.post(case_url + "/status", data={"to": "closed"}).status_code == 422
        assert officer.post(case_url + "/legal-hold", data={"hold": "true", "reason": "x"}).status_code == 403
        task_id = re.search(r'/tasks/(\d+)/done', officer.get(case_url).text).group(1)
        assert officer.post(f"{case_url}/tasks/{task_id}/done").status_code == 303
        assert officer.post(case_url + "/close", data={"outcome": "Referred to CAMHS"}).status_code == 303
        closed = officer.get(case_url).text
        assert "Referred to CAMHS" in closed and "document linked: note.txt" in closed and "Reopen" in closed
        assert "closed" in officer.get("/cases?show=all").text

        cases_csv = admin.get(f"/api/records/schools/{school_id}/cases.csv")
        assert cases_csv.status_code == 200 and "Referred to CAMHS" in cases_csv.text
        assert json.loads(admin.get(f"/api/records/schools/{school_id}/incidents.json").text)[0]["summary"] \
            == "Stated intent."
        assert as_("other.dsl").get(f"/api/records/schools/{school_id}/cases.csv").status_code == 404
        archive = zipfile.ZipFile(io.BytesIO(admin.get(f"/api/records/subject-access?school_id={school_id}&pupil=p.smith")
                                             .content))
        assert any(name.endswith(".pdf") for name in archive.namelist())
        assert admin.get(f"/api/records/subject-access?school_id={school_id}&pupil=nobody").status_code == 404
        assert "self_harm" in admin.get("/api/records/statistics.csv").text
        assert admin.get("/api/records/statistics.csv?start=2026-01-01T00:00:00").status_code == 422
        assert officer.get("/api/records/statistics.csv").status_code == 403
        assert admin.post("/api/records/purge").json()["counts"]["cases"] == 0
        assert "No purge has run yet" not in admin.get("/records").text
        assert "No overdue escalations" in officer.get("/escalation/overdue").text
        assert admin.put(f"/api/records/schools/{school_id}/webhook",
                         json={"url": "ftp://x", "secret": "s" * 20}).status_code == 422
