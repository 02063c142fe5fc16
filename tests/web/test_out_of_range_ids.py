"""Ids the database cannot hold get a clear 422 on every backend, never a 500."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from support.web import seed, serve

HUGE = 2**63  # one past the largest 64-bit integer a database column holds


def test_ids_out_of_range_are_refused_clearly(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ids = seed(sessions)
    with serve(sessions, tmp_path) as console:
        headers = {"Authorization": f"Bearer {console.api_token('admin')}"}
        with console.client() as client:
            for path in (f"/api/alerts/{HUGE}", f"/api/schools/{HUGE}/policy", f"/api/incidents/{HUGE}"):
                reply = client.get(path, headers=headers)
                assert reply.status_code == 422, (path, reply.status_code, reply.text)
                assert reply.json()["detail"] == "a number in the request is out of range"
            assert client.get(f"/api/alerts/{ids.alert}", headers=headers).status_code == 200
