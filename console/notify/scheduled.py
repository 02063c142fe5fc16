"""The webhook outbox's scheduled job: every 30 seconds send what is due (retries, and anything a kick missed)."""

from __future__ import annotations

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session, sessionmaker

from console.notify import flows
from console.settings import Settings

TICK_SECONDS = 30


def send(sessions: sessionmaker[Session], settings: Settings) -> None:
    flows.send_webhooks(sessions=sessions, settings=settings)


def register_jobs(scheduler: BaseScheduler, sessions: sessionmaker[Session], settings: Settings) -> None:
    scheduler.add_job(send, IntervalTrigger(seconds=TICK_SECONDS), args=(sessions, settings), id="notify.webhooks",
                      name="send and retry schools' webhook calls", coalesce=True, replace_existing=True)
