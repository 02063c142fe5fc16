"""Users, passwords, lock-out, sessions, API tokens and what each role may see."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from console.people import service as people
from console.people.auth import can_see_content, visible_school_ids
from console.people.models import Role
from console.schools import service as schools
from console.schools.models import Phase
from console.settings import Settings
from console.store import transaction, utcnow


def test_users_are_checked_and_scoped(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        primary = schools.create(session=session, name="Hillside", phase=Phase.primary)
        secondary = schools.create(session=session, name="Riverside", phase=Phase.secondary)
        with pytest.raises(people.UserError, match="at least 10 characters"):
            people.create(session=session, username="a", password="short", role=Role.admin)
        with pytest.raises(people.UserError, match="must belong to an existing school"):
            people.create(session=session, username="d", password="long enough pw", role=Role.dsl)
        with pytest.raises(people.UserError, match="not tied to one school"):
            people.create(session=session, username="o", password="long enough pw", role=Role.officer,
                          school_id=primary.id)
        with pytest.raises(people.UserError, match="primary console, the secondary console, or both"):
            people.create(session=session, username="o", password="long enough pw", role=Role.officer, consoles="tertiary")
        made = {role: people.create(session=session, username=role.value, password="long enough pw", role=role,
                                    school_id=secondary.id if role in (Role.dsl, Role.technician) else None,
                                    consoles="primary")
                for role in Role}
        with pytest.raises(people.UserError, match="taken"):
            people.create(session=session, username="admin", password="long enough pw", role=Role.admin)
        assert visible_school_ids(made[Role.admin], session) is None
        assert visible_school_ids(made[Role.governance], session) is None
        assert visible_school_ids(made[Role.officer], session) == [primary.id]
        assert visible_school_ids(made[Role.dsl], session) == [secondary.id]
        assert visible_school_ids(made[Role.technician], session) == [secondary.id]
        assert visible_school_ids(made[Role.auditor], session) == []
        assert {role for role, user in made.items() if not can_see_content(user)} == {Role.technician, Role.auditor}


def test_lockout_sessions_and_tokens(sessions: sessionmaker[Session]) -> None:
    settings = Settings(max_failed_logins=4, lockout_minutes=30, session_idle_minutes=10, session_max_hours=1)
    with transaction(sessions) as session:
        user = people.create(session=session, username="o", password="long enough pw", role=Role.officer)
        now = utcnow()
        for _ in range(3):
            assert people.authenticate(session=session, settings=settings, username="o", password="nope", now=now).user is None
        assert not user.locked_until  # three of the four allowed
        assert people.authenticate(session=session, settings=settings, username="o", password="nope", now=now).user is None
        locked = people.authenticate(session=session, settings=settings, username="o", password="long enough pw", now=now)
        assert locked.user is None and "locked" in locked.problem
        still = now + timedelta(minutes=29)
        assert people.authenticate(session=session, settings=settings, username="o", password="long enough pw",
                                   now=still).user is None
        later = now + timedelta(minutes=30, seconds=1)
        assert people.authenticate(session=session, settings=settings, username="o", password="long enough pw",
                                   now=later).user is user
        assert people.authenticate(session=session, settings=settings, username="ghost",
                                   password="x").problem == "wrong username or password"

        token, record = people.start_session(session=session, user=user)
        assert people.find_session(session=session, settings=settings, token=token) is not None
        assert people.find_session(session=session, settings=settings, token=token,
                                   now=record.last_seen_at + timedelta(minutes=9)) is not None
        assert people.find_session(session=session, settings=settings, token=token,
                                   now=record.last_seen_at + timedelta(minutes=11)) is None
        assert people.find_session(session=session, settings=settings, token=token) is None  # an expired one is deleted

        # Used every few minutes, a session still ends session_max_hours after sign-in.
        token, record = people.start_session(session=session, user=user)
        for minutes in range(5, 60, 5):
            assert people.find_session(session=session, settings=settings, token=token,
                                       now=record.created_at + timedelta(minutes=minutes)) is not None
        assert people.find_session(session=session, settings=settings, token=token,
                                   now=record.created_at + timedelta(minutes=61)) is None

        api, record = people.create_api_token(session=session, user=user, name="export")
        assert people.user_for_api_token(session=session, token=api) is user
        people.set_active(session=session, user=user, active=False)
        assert people.user_for_api_token(session=session, token=api) is None
        assert record.revoked_at is not None


def test_the_dummy_hash_is_made_on_first_use_not_at_import() -> None:
    """Importing the service must not compute an argon2 hash (it costs seconds under load on every command)."""
    import subprocess
    import sys

    script = (
        "import argon2\n"
        "calls = []\n"
        "original = argon2.PasswordHasher.hash\n"
        "argon2.PasswordHasher.hash = lambda self, *a, **k: calls.append(1) or original(self, *a, **k)\n"
        "from console.people import service\n"
        "assert calls == [], calls\n"
        "first = service._dummy_hash()\n"
        "assert service._dummy_hash() is first and calls == [1], calls\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
