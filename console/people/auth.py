"""Who is asking, and may they: the dependencies every view uses.

A browser signs in with a password and gets a random session id in an HttpOnly, SameSite=Lax cookie
(Secure over https); a script sends ``Authorization: Bearer <api token>``. Every state-changing request
from a browser carries the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``);
bearer requests carry no cookie, so they need none.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.dependencies import get_session
from console.people import service
from console.people.models import LoginSession, Role, User
from console.schools.models import School

SESSION_COOKIE = "sg_session"
# Before login there is no session: the login form's CSRF token is bound to this cookie instead.
LOGIN_CSRF_COOKIE = "sg_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONTENT_BLIND_ROLES = frozenset({Role.technician, Role.auditor})


class LoginRequired(Exception):
    """Raised for a page request without a signed-in user; the app answers with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def login_url(next_url: str) -> str:
    return f"/login?next={quote(next_url, safe='')}"


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def login_session(request: Request, session: Session) -> LoginSession | None:
    """The browser's live login session, looked up once per request."""
    if not hasattr(request.state, "login_session"):
        token = request.cookies.get(SESSION_COOKIE)
        request.state.login_session = service.find_session(session=session, settings=request.app.state.settings, token=token) if token else None
    return request.state.login_session


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "hx-request" in request.headers


def current_user(request: Request, session: Session = Depends(get_session)) -> User:
    """The signed-in user: 401 JSON for /api/* (and htmx), a redirect to /login for pages."""
    if getattr(request.state, "user", None) is not None:
        return request.state.user
    token = _bearer_token(request)
    user: User | None = None
    if token is not None:
        user = service.user_for_api_token(session=session, token=token)
        if user is None:
            raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
    else:
        record = login_session(request, session)
        if record is not None:
            candidate = session.get(User, record.user_id)
            user = candidate if candidate is not None and candidate.active else None
    if user is None:
        if _wants_json(request):
            raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})
        next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(next_url)
    request.state.user = user
    return user


def require_roles(*roles: Role) -> Callable[..., User]:
    """A dependency that returns the current user, or answers 403 unless their role is one of ``roles``."""
    allowed = frozenset(Role(role) for role in roles)

    def dependency(user: User = Depends(current_user)) -> User:
        if user.role not in allowed:
            raise HTTPException(403, f"a {user.role} may not do this")
        return user

    dependency.roles = allowed  # type: ignore[attr-defined]  # read by the permissions test
    return dependency


def visible_school_ids(user: User, session: Session) -> list[int] | None:
    """The schools whose data the user may see; None means every school."""
    if user.role in (Role.admin, Role.governance):
        return None
    if user.role in (Role.dsl, Role.technician):
        return [user.school_id] if user.school_id is not None else []
    if user.role == Role.officer:
        return list(session.scalars(select(School.id).where(School.phase.in_(user.console_phases))))
    return []


def can_see_content(user: User) -> bool:
    """Whether the user may see what pupils typed, viewed or screenshots: never technicians or auditors."""
    return user.role not in CONTENT_BLIND_ROLES


def csrf_token(request: Request) -> str:
    """The token to embed in this page's forms (the session's, or the login form's before sign-in)."""
    record = getattr(request.state, "login_session", None)
    if record is not None:
        return record.csrf_token
    if not hasattr(request.state, "login_csrf"):
        request.state.login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    return request.state.login_csrf


async def csrf_protect(request: Request, session: Session = Depends(get_session)) -> None:
    """403 unless a state-changing browser request carries the CSRF token of its session."""
    if request.method in SAFE_METHODS or _bearer_token(request) is not None:
        return
    record = login_session(request, session)
    expected = record.csrf_token if record is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    if not expected or not submitted or not secrets.compare_digest(expected, submitted):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/"
    )
