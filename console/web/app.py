"""The FastAPI application: assembles every domain's routers, static files and health checks."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from console.alerts import views as alerts
from console.ingest.streams import LiveStreams
from console.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"


def create_app(*, settings: Settings, sessions: sessionmaker[Session], streams: LiveStreams) -> FastAPI:
    app = FastAPI(title="Safeguard console", version="0.1.0")
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.streams = streams
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in (alerts.api, alerts.pages):
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/alerts")

    return app
