"""Smoke: every main page renders for the roles that use it."""

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from support.web import seed, serve


def test_main_pages_render(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ids = seed(sessions)
    with serve(sessions, tmp_path) as web:
        officer = web.login("officer")
        for path in ("/alerts", f"/alerts/{ids.alert}", "/alerts/quality", "/schools", f"/schools/{ids.riverside}",
                     "/account"):
            reply = officer.get(path)
            assert reply.status_code == 200, (path, reply.text[-2000:])
        admin = web.login("admin")
        for path in ("/people", "/audit", "/schools"):
            assert admin.get(path).status_code == 200, path
