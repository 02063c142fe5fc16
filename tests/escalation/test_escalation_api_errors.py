"""Escalation settings for a school that does not exist are refused with 404, not a database error."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from support.web import seed, serve


def test_contacts_and_rules_of_an_unknown_school_are_404(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ids = seed(sessions)
    unknown = ids.riverside + ids.hillside + 1000
    contact = {"role": "dsl", "name": "Ms Khan", "email": "dsl@riverside.example"}
    with serve(sessions, tmp_path) as console, console.client() as client:
        headers = {"Authorization": f"Bearer {console.api_token('admin')}"}
        base = "/api/escalations/schools"
        assert client.put(f"{base}/{unknown}/contacts", json=[contact], headers=headers).status_code == 404
        assert client.put(f"{base}/{unknown}/rules", json={"level": 5, "ack_minutes": 15}, headers=headers).status_code == 404
        assert client.get(f"{base}/{unknown}/contacts", headers=headers).status_code == 404
        assert client.put(f"{base}/{ids.riverside}/contacts", json=[contact], headers=headers).status_code == 200
        assert client.put(f"{base}/{ids.riverside}/rules", json={"level": 5, "ack_minutes": 15}, headers=headers).status_code == 200
