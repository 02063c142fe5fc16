"""Scheduled jobs inside the console: one background scheduler; each domain adds its jobs.

A domain with scheduled work has a ``scheduled.py`` with
``register_jobs(scheduler, sessions, settings)``; list it in ``DOMAINS`` below.
"""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from console.escalation import scheduled as escalation
from console.notify import scheduled as notify
from console.records import scheduled as records
from console.reports import scheduled as reports
from console.settings import Settings

DOMAINS = (reports, escalation, records, notify)


def create_scheduler(*, sessions: sessionmaker[Session], settings: Settings) -> BackgroundScheduler:
    """A scheduler with every domain's jobs registered, not yet started. Jobs run in its worker
    threads, each with its own database sessions, so they never block the event loop."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"max_instances": 1})
    for domain in DOMAINS:
        domain.register_jobs(scheduler, sessions, settings)
    return scheduler
