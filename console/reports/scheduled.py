"""The reports' scheduled job: each day at the configured local hour, the monthly run."""

from __future__ import annotations

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import Session, sessionmaker

from console.reports import flows
from console.settings import Settings
from console.store import utcnow


def register_jobs(scheduler: BaseScheduler, sessions: sessionmaker[Session], settings: Settings) -> None:
    scheduler.add_job(
        lambda: flows.monthly_run(sessions=sessions, settings=settings, now=utcnow()),
        CronTrigger(hour=settings.report_monthly_hour, timezone=settings.report_timezone),
        id="reports.monthly",
        name="monthly school reports",
        coalesce=True,
        misfire_grace_time=6 * 3600,
        replace_existing=True,
    )
