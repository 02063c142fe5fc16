"""Escalation's scheduled jobs: every minute ask the next contact where time ran out; the daily digest."""

from __future__ import annotations

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session, sessionmaker

from console.escalation import flows
from console.settings import Settings
from console.store import transaction, utcnow


def advance(sessions: sessionmaker[Session], settings: Settings) -> None:
    """Ask the next contact where time ran out, then send every email still pending (after the commit)."""
    with transaction(sessions) as session:
        flows.advance(session=session, settings=settings, now=utcnow())
    flows.send_pending(sessions=sessions, settings=settings)


def digest(sessions: sessionmaker[Session], settings: Settings) -> None:
    with transaction(sessions) as session:
        flows.send_digests(session=session, settings=settings, now=utcnow())


def register_jobs(scheduler: BaseScheduler, sessions: sessionmaker[Session], settings: Settings) -> None:
    scheduler.add_job(advance, IntervalTrigger(minutes=1), args=(sessions, settings), id="escalation.advance",
                      name="escalate unacknowledged incidents", coalesce=True, replace_existing=True)
    scheduler.add_job(digest, CronTrigger(hour=settings.digest_hour, timezone="UTC"), args=(sessions, settings),
                      id="escalation.digest", name="daily digest of lower-level incidents", coalesce=True,
                      misfire_grace_time=6 * 3600, replace_existing=True)
