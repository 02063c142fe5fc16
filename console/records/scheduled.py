"""Records' scheduled job: the nightly purge of records past their retention."""

from __future__ import annotations

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import Session, sessionmaker

from console.records import service
from console.settings import Settings
from console.store import transaction, utcnow

PURGE_HOUR = 2


def purge(sessions: sessionmaker[Session], settings: Settings) -> None:
    with transaction(sessions) as session:
        service.purge(session=session, settings=settings, now=utcnow(),
                      date_of_birth=service.register_date_of_birth(session))


def register_jobs(scheduler: BaseScheduler, sessions: sessionmaker[Session], settings: Settings) -> None:
    scheduler.add_job(purge, CronTrigger(hour=PURGE_HOUR, minute=30, timezone="UTC"), args=(sessions, settings),
                      id="records.purge", name="purge records past their retention", coalesce=True,
                      misfire_grace_time=12 * 3600, replace_existing=True)
