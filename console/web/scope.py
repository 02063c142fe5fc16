"""Scope checks shared by the domain views: an object the user may not see answers 404, as if it did not exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException
from sqlalchemy.orm import Session

from console.people.auth import visible_school_ids
from console.people.models import User
from console.schools.models import School

T = TypeVar("T")


def visible_or_404(
    session: Session, user: User, found: T | None, detail: str,
    school_id: Callable[[T], int | None] = lambda found: found.school_id,  # type: ignore[attr-defined]
) -> T:
    """`found`, or 404 with `detail` if it is None or belongs to a school outside the user's schools."""
    visible = visible_school_ids(user, session)
    if found is None or (visible is not None and school_id(found) not in visible):
        raise HTTPException(404, detail)
    return found


def visible_school(session: Session, user: User, school_id: int) -> School:
    """The school, or 404 if there is none or it is outside the user's schools."""
    return visible_or_404(session, user, session.get(School, school_id), f"no school {school_id}",
                          school_id=lambda school: school.id)
