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
    with transaction(sessions) as session:
        user = people.create(session=session, username="o", password="long enough pw", role=Role.officer)
        now = utcnow()
        for _ in range(people.MAX_FAILED_LOGINS):
            assert people.authenticate(session=session, username="o", password="nope", now=now).user is None
        locked = people.authenticate(session=session, username="o", password="long enough pw", now=now)
        assert locked.user is None and "locked" in locked.problem
        later = now + people.LOCKOUT + timedelta(seconds=1)
        assert people.authenticate(session=session, username="o", password="long enough pw", now=later).user is user
        assert people.authenticate(session=session, username="ghost", password="x").problem == "wrong username or password"

        token, _ = people.start_session(session=session, user=user)
        assert people.find_session(session=session, token=token) is not None
        assert people.find_session(session=session, token=token, now=utcnow() + people.SESSION_IDLE * 2) is None
        assert people.find_session(session=session, token=token) is None  # an expired session is deleted

        api, record = people.create_api_token(session=session, user=user, name="export")
        assert people.user_for_api_token(session=session, token=api) is user
        people.set_active(session=session, user=user, active=False)
        assert people.user_for_api_token(session=session, token=api) is None
        assert record.revoked_at is not None
