"""Sign-in and sign-out, the user's own account (password, API tokens) and user administration."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.audit.service import record
from console.dependencies import get_session
from console.people import service
from console.people.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    csrf_protect,
    csrf_token,
    login_session,
    require_roles,
    set_cookie,
)
from console.people.models import Role, User, UserCreate, UserRead
from console.schools.models import Phase, School
from console.templating import templates

api = APIRouter(prefix="/api", tags=["people"], dependencies=[Depends(csrf_protect)])
pages = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

EVERYONE = tuple(Role)
admin_only = require_roles(Role.admin)
anyone = require_roles(*EVERYONE)


def _safe_next(next_url: str) -> str:
    """Only a path on this site, never another host (an open redirect)."""
    return next_url if next_url.startswith("/") and not next_url.startswith(("//", "/\\")) else "/"


def _user_or_404(session: Session, user_id: int) -> User:
    user = service.get(session=session, user_id=user_id)
    if user is None:
        raise HTTPException(404, f"no user {user_id}")
    return user


@pages.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", session: Session = Depends(get_session)) -> HTMLResponse:
    # With a live session already, the form carries that session's CSRF token (what csrf_protect expects).
    login_session(request, session)
    response = templates.TemplateResponse(request, "auth/login.html", {"next": _safe_next(next), "problem": ""})
    set_cookie(request, response, LOGIN_CSRF_COOKIE, csrf_token(request), max_age=3600)
    return response


@pages.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    next: str = Form("/"),
    session: Session = Depends(get_session),
) -> Response:
    result = service.authenticate(session=session, settings=request.app.state.settings, username=username.strip(), password=password)
    if result.user is None:
        record(session=session, actor=username.strip()[:100], action="login_failed", object_type="user",
               object_id=username.strip()[:64], detail={"ip": request.client.host if request.client else "",
                                                       "problem": result.problem})
        response = templates.TemplateResponse(
            request, "auth/login.html", {"next": _safe_next(next), "problem": result.problem}, status_code=401
        )
        set_cookie(request, response, LOGIN_CSRF_COOKIE, csrf_token(request), max_age=3600)
        return response
    # Session fixation: whatever session id the browser brought is dropped, and a new random one issued.
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        service.end_session(session=session, token=previous)
    token, _ = service.start_session(
        session=session, user=result.user, ip=request.client.host if request.client else ""
    )
    record(session=session, actor=result.user.username, action="login", object_type="user", object_id=result.user.id)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@pages.post("/logout")
def logout(request: Request, user: User = Depends(anyone), session: Session = Depends(get_session)) -> Response:
    service.end_session(session=session, token=request.cookies.get(SESSION_COOKIE, ""))
    record(session=session, actor=user.username, action="logout", object_type="user", object_id=user.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _account_page(request: Request, session: Session, user: User, *, new_token: str = "", problem: str = "",
                  status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "people/account.html",
        {"user": user, "tokens": service.api_tokens(session=session, user=user), "new_token": new_token,
         "problem": problem},
        status_code=status_code,
    )


@pages.get("/account", response_class=HTMLResponse)
def account_page(request: Request, user: User = Depends(anyone), session: Session = Depends(get_session)) -> HTMLResponse:
    return _account_page(request, session, user)


@pages.post("/account/tokens", response_class=HTMLResponse)
def create_token(
    request: Request, name: str = Form(...), user: User = Depends(anyone), session: Session = Depends(get_session)
) -> HTMLResponse:
    try:
        token, created = service.create_api_token(session=session, user=user, name=name)
    except service.UserError as error:
        return _account_page(request, session, user, problem=str(error), status_code=422)
    record(session=session, actor=user.username, action="create_api_token", object_type="api_token",
           object_id=created.id, detail={"name": created.name})
    return _account_page(request, session, user, new_token=token)


@pages.post("/account/tokens/{token_id}/revoke")
def revoke_token(token_id: int, user: User = Depends(anyone), session: Session = Depends(get_session)) -> Response:
    if service.revoke_api_token(session=session, user=user, token_id=token_id) is None:
        raise HTTPException(404, f"you have no API token {token_id}")
    record(session=session, actor=user.username, action="revoke_api_token", object_type="api_token", object_id=token_id)
    return RedirectResponse("/account", status_code=303)


@pages.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    current_password: str = Form(...),
    new_password: str = Form(...),
    user: User = Depends(anyone),
    session: Session = Depends(get_session),
) -> Response:
    if service.authenticate(session=session, settings=request.app.state.settings, username=user.username, password=current_password).user is None:
        return _account_page(request, session, user, problem="the current password is wrong", status_code=422)
    try:
        service.set_password(session=session, user=user, password=new_password)
    except service.UserError as error:
        return _account_page(request, session, user, problem=str(error), status_code=422)
    record(session=session, actor=user.username, action="change_password", object_type="user", object_id=user.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _people_page(request: Request, session: Session, *, problem: str = "", status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "people/list.html",
        {"users": service.list_users(session=session), "roles": list(Role), "phases": list(Phase),
         "schools": list(session.scalars(select(School).order_by(School.name))), "problem": problem},
        status_code=status_code,
    )


@pages.get("/people", response_class=HTMLResponse)
def people_page(request: Request, _: User = Depends(admin_only), session: Session = Depends(get_session)) -> HTMLResponse:
    return _people_page(request, session)


@pages.post("/people", response_class=HTMLResponse)
def create_user_form(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    role: Role = Form(...),
    display_name: str = Form(""),
    email: str = Form(""),
    school_id: str = Form(""),
    deputy: bool = Form(False),
    consoles: list[str] = Form([]),
    admin: User = Depends(admin_only),
    session: Session = Depends(get_session),
) -> Response:
    try:
        user = service.create(
            session=session, username=username, password=password, role=role, display_name=display_name,
            email=email, school_id=int(school_id) if school_id else None, deputy=deputy, consoles=",".join(consoles),
        )
    except service.UserError as error:
        return _people_page(request, session, problem=str(error), status_code=422)
    record(session=session, actor=admin.username, action="create_user", object_type="user", object_id=user.id,
           detail={"username": user.username, "role": user.role, "school_id": user.school_id})
    return RedirectResponse("/people", status_code=303)


@pages.post("/people/{user_id}/active")
def set_user_active(
    user_id: int, active: bool = Form(...), admin: User = Depends(admin_only), session: Session = Depends(get_session)
) -> Response:
    user = _user_or_404(session, user_id)
    if user.id == admin.id and not active:
        raise HTTPException(422, "you cannot deactivate your own account")
    service.set_active(session=session, user=user, active=active)
    record(session=session, actor=admin.username, action="activate_user" if active else "deactivate_user",
           object_type="user", object_id=user.id)
    return RedirectResponse("/people", status_code=303)


@pages.post("/people/{user_id}/unlock")
def unlock_user(user_id: int, admin: User = Depends(admin_only), session: Session = Depends(get_session)) -> Response:
    user = _user_or_404(session, user_id)
    service.unlock(user=user)
    record(session=session, actor=admin.username, action="unlock_user", object_type="user", object_id=user.id)
    return RedirectResponse("/people", status_code=303)


@pages.post("/people/{user_id}/password")
def reset_password(
    user_id: int, password: str = Form(...), admin: User = Depends(admin_only), session: Session = Depends(get_session)
) -> Response:
    user = _user_or_404(session, user_id)
    try:
        service.set_password(session=session, user=user, password=password)
    except service.UserError as error:
        raise HTTPException(422, str(error)) from error
    record(session=session, actor=admin.username, action="reset_password", object_type="user", object_id=user.id)
    return RedirectResponse("/people", status_code=303)


@api.get("/me", response_model=UserRead)
def me(user: User = Depends(anyone)) -> User:
    return user


@api.get("/people", response_model=list[UserRead])
def list_people(_: User = Depends(admin_only), session: Session = Depends(get_session)) -> list[User]:
    return service.list_users(session=session)


@api.post("/people", response_model=UserRead, status_code=201)
def create_person(body: UserCreate, admin: User = Depends(admin_only), session: Session = Depends(get_session)) -> User:
    try:
        user = service.create(session=session, **body.model_dump())
    except service.UserError as error:
        raise HTTPException(422, str(error)) from error
    record(session=session, actor=admin.username, action="create_user", object_type="user", object_id=user.id,
           detail={"username": user.username, "role": user.role, "school_id": user.school_id})
    return user
