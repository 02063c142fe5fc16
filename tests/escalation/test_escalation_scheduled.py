"""The scheduler carries escalation's and records' jobs, and each job runs against the database."""

from __future__ import annotations

from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session, sessionmaker

from console.records.models import PurgeRun
from console.scheduler import create_scheduler
from console.settings import Settings
from console.store import transaction


def test_jobs_are_registered_and_run(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, digest_hour=15)
    scheduler = create_scheduler(sessions=sessions, settings=settings)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert isinstance(jobs["escalation.advance"].trigger, IntervalTrigger)
    assert isinstance(jobs["escalation.digest"].trigger, CronTrigger) and "hour='15'" in str(jobs["escalation.digest"].trigger)
    assert "hour='2'" in str(jobs["records.purge"].trigger)
    for job_id in ("escalation.advance", "escalation.digest", "records.purge"):
        jobs[job_id].func(*jobs[job_id].args)
    with transaction(sessions) as session:
        [run] = session.query(PurgeRun).all()
        assert run.actor == "system" and run.counts["events"] == 0
