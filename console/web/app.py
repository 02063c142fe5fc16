"""The FastAPI application: assembles every domain's routers, static files and sign-in handling."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker

from console.alerts import views as alerts
from console.audit import views as audit
from console.cases import views as cases
from console.devices import views as devices
from console.escalation import views as escalation
from console.escalation.sender import Sender
from console.incidents import views as incidents
from console.ingest.streams import LiveStreams
from console.notify import views as notify
from console.people import auth
from console.people import views as people
from console.people.models import Role, User
from console.policies import views as policies
from console.records import views as records
from console.reports import views as reports
from console.schools import views as schools
from console.settings import Settings
from console.templating import templates
from console.web import health, navigation
from console.web.middleware import SendAfterCommit

STATIC_DIR = Path(__file__).parent / "static"


def create_app(*, settings: Settings, sessions: sessionmaker[Session], streams: LiveStreams) -> FastAPI:
    app = FastAPI(title="Safeguard console", version="0.1.0")
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.streams = streams
    app.state.ready = False  # set by the console process once agent ingest runs
    app.state.escalation_sender = Sender(sessions, settings)
    app.router.on_shutdown.append(app.state.escalation_sender.close)
    app.add_middleware(SendAfterCommit)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    templates.env.globals["csrf_token"] = auth.csrf_token
    for router in (health.router, people.api, people.pages, alerts.api, alerts.pages, devices.api, devices.pages, policies.api):
        app.include_router(router)

    app.include_router(escalation.api)
    app.include_router(escalation.pages)
    app.include_router(incidents.api)
    app.include_router(incidents.pages)
    app.include_router(cases.api)
    app.include_router(cases.pages)
    app.include_router(records.api)
    app.include_router(records.pages)
    app.include_router(reports.pages)
    app.include_router(notify.pages)
    for router in (schools.api, schools.pages, audit.api, audit.pages):
        app.include_router(router)

    app.state.page_roles = navigation.page_roles(app)
    templates.env.globals["may_open"] = navigation.may_open

    @app.exception_handler(auth.LoginRequired)
    def _login_required(request: Request, error: auth.LoginRequired) -> RedirectResponse:
        return RedirectResponse(auth.login_url(error.next_url), status_code=303)

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    def _out_of_range(request: Request, error: Exception) -> JSONResponse:
        # A number the database cannot hold (e.g. /api/alerts/99999999999999999999): PostgreSQL says DataError,
        # SQLite's driver OverflowError.
        return JSONResponse({"detail": "a number in the request is out of range"}, status_code=422)

    @app.get("/", include_in_schema=False)
    def home(user: User = Depends(auth.require_roles(*Role))) -> RedirectResponse:
        """Each role's starting page."""
        start = {Role.technician: "/schools", Role.governance: "/schools", Role.auditor: "/audit"}
        return RedirectResponse(start.get(user.role, "/alerts"), status_code=303)

    return app
