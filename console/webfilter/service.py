"""Which device had an IP address at a given time."""

from __future__ import annotations

import bisect
import ipaddress
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from console.devices.models import Device
from console.schools.models import School
from console.webfilter.models import DeviceAddress

# How long after a device was last seen at an address its traffic is still attributed to it.
ADDRESS_LEASE = timedelta(hours=12)


def _canonical(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        raise ValueError(f"{ip!r} is not an IP address") from None


def record_addresses(*, session: Session, seen: Sequence[tuple[str, str, datetime]]) -> None:
    """Note that each device_id was at ip at time at (ingest notes the streams that opened), reading the latest
    row of all the addresses at once; the notes are taken in time order."""
    noted = sorted(((at, device_id, _canonical(ip)) for device_id, ip, at in seen), key=lambda note: note[0])
    if not noted:
        return
    newest = (
        select(DeviceAddress.ip, func.max(DeviceAddress.first_seen).label("first_seen"))
        .where(DeviceAddress.ip.in_({ip for _, _, ip in noted}), DeviceAddress.first_seen <= noted[-1][0])
        .group_by(DeviceAddress.ip)
        .subquery()
    )
    latest = {
        row.ip: row
        for row in session.scalars(
            select(DeviceAddress)
            .join(newest, and_(DeviceAddress.ip == newest.c.ip, DeviceAddress.first_seen == newest.c.first_seen))
            .order_by(DeviceAddress.id)
        )
    }
    for at, device_id, ip in noted:
        row = latest.get(ip)
        if row is not None and row.device_id == device_id:
            row.last_seen = max(row.last_seen, at)
        else:
            latest[ip] = DeviceAddress(device_id=device_id, ip=ip, first_seen=at, last_seen=at)
            session.add(latest[ip])
    session.flush()


@dataclass(frozen=True)
class DeviceAtAddress:
    device_id: str
    school_id: int
    phase: str


def devices_at(*, session: Session, lookups: Sequence[tuple[str, datetime]]) -> list[DeviceAtAddress | None]:
    """For each (ip, time): the device that had ip then (the last seen there before that time, if not longer
    ago than ADDRESS_LEASE), or None when no enrolled device is known there. One query for the batch."""
    canonical = [(_canonical(ip), at) for ip, at in lookups]
    rows = session.execute(
        select(DeviceAddress.ip, DeviceAddress.device_id, DeviceAddress.first_seen, DeviceAddress.last_seen,
               Device.school_id, School.phase)
        .join(Device, Device.id == DeviceAddress.device_id)
        .join(School, School.id == Device.school_id)
        .where(DeviceAddress.ip.in_({ip for ip, _ in canonical}))
        .order_by(DeviceAddress.first_seen)
    ).all()
    by_ip: dict[str, list] = defaultdict(list)
    for row in rows:
        by_ip[row.ip].append(row)
    out: list[DeviceAtAddress | None] = []
    for ip, at in canonical:
        history = by_ip.get(ip, [])
        index = bisect.bisect_right([r.first_seen for r in history], at) - 1
        row = history[index] if index >= 0 else None
        if row is None or at - row.last_seen > ADDRESS_LEASE:
            out.append(None)
        else:
            out.append(DeviceAtAddress(device_id=row.device_id, school_id=row.school_id, phase=str(row.phase)))
    return out


@dataclass(frozen=True)
class SchoolAtAddress:
    school_id: int
    phase: str


def parse_networks(values: Sequence[str]) -> list[str]:
    """CIDR ranges in canonical form ("10.12.0.0/16"); ValueError names the first that is not one."""
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{value!r} is not a network in CIDR form (e.g. 10.12.0.0/16)") from None
    return out


def set_networks(*, session: Session, school: School, networks: Sequence[str]) -> list[str]:
    """Replace the school's address ranges; refuses a range that overlaps another school's."""
    canonical = parse_networks(networks)
    mine = [ipaddress.ip_network(n) for n in canonical]
    others = session.scalars(select(School).where(School.id != school.id)).all()
    for other in others:
        for theirs in map(ipaddress.ip_network, other.networks or []):
            for network in mine:
                if network.version == theirs.version and network.overlaps(theirs):
                    raise ValueError(f"{network} overlaps {theirs} of {other.name}")
    school.networks = canonical
    return canonical


def schools_at(*, session: Session, ips: Sequence[str]) -> list[SchoolAtAddress | None]:
    """For each ip: the school whose networks hold it (the most specific range), or None."""
    ranges = [
        (network, SchoolAtAddress(school_id=school_id, phase=str(phase)))
        for school_id, phase, networks in session.execute(select(School.id, School.phase, School.networks))
        for network in map(ipaddress.ip_network, networks or [])
    ]
    ranges.sort(key=lambda item: -item[0].prefixlen)
    out: list[SchoolAtAddress | None] = []
    for ip in ips:
        address = ipaddress.ip_address(_canonical(ip))
        out.append(next((school for network, school in ranges if address in network), None))
    return out
