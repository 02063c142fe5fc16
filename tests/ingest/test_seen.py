"""Stream openings noted by the ingest server are written together, and kept through a failed write."""

from __future__ import annotations

import asyncio
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from console.devices.models import Device
from console.ingest import seen as seen_module
from console.ingest.seen import Seen, SeenRecorder
from console.schools.models import School
from console.store import transaction
from console.webfilter.models import DeviceAddress

T0 = datetime(2026, 11, 23, 8, 45, tzinfo=timezone.utc)


def _devices(sessions: sessionmaker[Session], count: int) -> list[str]:
    with transaction(sessions) as session:
        school = School(name="Riverside Academy", phase="secondary")
        session.add(school)
        session.flush()
        ids = [f"dev-{i}" for i in range(count)]
        session.add_all(Device(id=device_id, school_id=school.id, certificate_serial=str(i)) for i, device_id in enumerate(ids))
    return ids


def _stored(sessions: sessionmaker[Session]) -> tuple[dict[str, datetime | None], set[tuple[str, str]]]:
    with sessions() as session:
        seen = {device_id: at for device_id, at in session.execute(select(Device.id, Device.last_seen_at))}
        addresses = {(device_id, ip) for device_id, ip in session.execute(select(DeviceAddress.device_id, DeviceAddress.ip))}
    return seen, addresses


def test_openings_are_written_with_their_addresses(sessions: sessionmaker[Session]) -> None:
    ids = _devices(sessions, 3)

    async def scenario() -> None:
        recorder = SeenRecorder(sessions=sessions, lock=nullcontext())
        recorder.start()
        recorder.note(Seen(ids[0], "10.1.0.7", T0))
        recorder.note(Seen(ids[1], "fd00::7", T0 + timedelta(seconds=1)))
        recorder.note(Seen(ids[2], None, T0 + timedelta(seconds=2)))  # not an IP peer: seen, no address
        await recorder.close()

    asyncio.run(scenario())
    last_seen, addresses = _stored(sessions)
    assert all(last_seen[device_id] is not None and last_seen[device_id] >= T0 for device_id in ids)
    assert addresses == {(ids[0], "10.1.0.7"), (ids[1], "fd00::7")}


def test_a_later_last_seen_is_kept(sessions: sessionmaker[Session]) -> None:
    [device_id] = _devices(sessions, 1)
    later = T0 + timedelta(hours=1)
    with transaction(sessions) as session:
        session.get_one(Device, device_id).last_seen_at = later

    async def scenario() -> None:
        recorder = SeenRecorder(sessions=sessions, lock=nullcontext())
        recorder.start()
        recorder.note(Seen(device_id, "10.1.0.7", T0))
        await recorder.close()

    asyncio.run(scenario())
    last_seen, _ = _stored(sessions)
    assert last_seen[device_id] == later


def test_a_failed_write_is_retried_and_loses_nothing(sessions: sessionmaker[Session], monkeypatch) -> None:
    ids = _devices(sessions, 2)
    monkeypatch.setattr(seen_module, "RETRY_SECONDS", 0.05)
    lock = _FailingOnce()

    async def scenario() -> None:
        recorder = SeenRecorder(sessions=sessions, lock=lock)
        recorder.start()
        recorder.note(Seen(ids[0], "10.1.0.7", T0))
        await asyncio.sleep(0.02)  # the first write fails; the next note joins the retry
        recorder.note(Seen(ids[1], "10.1.0.8", T0))
        await asyncio.sleep(0.3)
        await recorder.close()

    asyncio.run(scenario())
    _, addresses = _stored(sessions)
    assert lock.failed
    assert addresses == {(ids[0], "10.1.0.7"), (ids[1], "10.1.0.8")}


class _FailingOnce:
    """A write lock whose first acquisition fails, as a locked or unreachable database would."""

    def __init__(self) -> None:
        self.failed = False

    def __enter__(self) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("database is locked")

    def __exit__(self, *exc) -> None:
        return None
