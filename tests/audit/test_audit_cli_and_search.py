"""`safeguard audit verify` on an intact and a tampered chain; the auditor's search."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from console.audit.models import AuditEntry
from console.audit.service import record, search
from console.store import transaction


def _verify(database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAFEGUARD_DATABASE_URL": database_url, "SAFEGUARD_DATA_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "console", "audit", "verify"], env=env, capture_output=True,
                          text=True, timeout=120)


def test_verify_command_finds_an_altered_entry(sessions: sessionmaker[Session], database_url: str, tmp_path: Path) -> None:
    with transaction(sessions) as session:
        for index in range(5):
            record(session=session, actor="officer", action="view", object_type="alert", object_id=index)
    intact = _verify(database_url, tmp_path)
    assert intact.returncode == 0 and "intact: 5 entries" in intact.stdout
    with transaction(sessions) as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == 3).values(actor="someone else"))
    broken = _verify(database_url, tmp_path)
    assert broken.returncode == 1
    assert "entry 3: content does not match its hash (altered)" in broken.stderr


def test_search_filters_and_pages(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        for index in range(6):
            record(session=session, actor="officer" if index % 2 else "dsl", action="view", object_type="alert",
                   object_id=index)
        record(session=session, actor="officer", action="triage", object_type="alert", object_id=1)
        views = search(session=session, actor="officer", action="view")
        assert [entry.object_id for entry in views] == ["5", "3", "1"]
        assert [e.object_id for e in search(session=session, actor="officer", before_id=views[0].id, limit=1)] == ["3"]
        assert [e.action for e in search(session=session, object_type="alert", object_id="1")] == ["triage", "view"]
