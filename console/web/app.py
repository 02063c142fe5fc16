"""The FastAPI application: assembles every domain's routers, static files and sign-in handling."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from console.alerts import views as alerts
from console.escalation import views as escalation
from console.ingest.streams import LiveStreams
from console.people import auth
from console.people import views as people
from console.reports import views as reports
from console.settings import Settings
from console.templating import templates

STATIC_DIR = Path(__file__).parent / "static"


def create_app(*, settings: Settings, sessions: sessionmaker[Session], streams: LiveStreams) -> FastAPI:
    app = FastAPI(title="Safeguard console", version="0.1.0")
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.streams = streams
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    templates.env.globals["csrf_token"] = auth.csrf_token
    for router in (people.api, people.pages, alerts.api, alerts.pages):
        app.include_router(router)

    app.include_router(escalation.api)
    app.include_router(escalation.pages)
    app.include_router(reports.pages)
    @app.exception_handler(auth.LoginRequired)
    def _login_required(request: Request, error: auth.LoginRequired) -> RedirectResponse:
        return RedirectResponse(auth.login_url(error.next_url), status_code=303)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/alerts")

    return app
