from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.schools.models import (
    EnrolmentToken,
    Group,
    GroupKind,
    ImportResult,
    InventoryDevice,
    Phase,
    Pupil,
    School,
    Trust,
)
from console.store import utcnow

TOKEN_PREFIX = "sgt_"


class EnrolmentRefused(Exception):
    """An enrolment token that cannot be used; the message says why."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(*, session: Session, name: str, phase: Phase) -> School:
    school = School(name=name, phase=Phase(phase))
    session.add(school)
    session.flush()
    return school


def get_by_name(*, session: Session, name: str) -> School | None:
    return session.scalar(select(School).where(School.name == name))


def create_enrolment_token(
    *, session: Session, school: School, days: int, max_uses: int | None = 1, created_by: str = "", label: str = ""
) -> str:
    """Create a token and return it in clear; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    session.add(
        EnrolmentToken(
            school_id=school.id,
            token_hash=hash_token(token),
            expires_at=utcnow() + timedelta(days=days),
            max_uses=max_uses,
            created_by=created_by,
            label=label,
        )
    )
    session.flush()
    return token


def revoke_enrolment_token(*, session: Session, token: str) -> bool:
    record = session.scalar(select(EnrolmentToken).where(EnrolmentToken.token_hash == hash_token(token)))
    if record is None:
        return False
    record.revoked_at = record.revoked_at or utcnow()
    return True


def redeem_enrolment_token(*, session: Session, token: str, now: datetime | None = None) -> School:
    """Count one use of the token and return its school, or say why it cannot be used."""
    now = now or utcnow()
    record = session.scalar(
        select(EnrolmentToken).where(EnrolmentToken.token_hash == hash_token(token)).with_for_update()
    )
    if record is None:
        raise EnrolmentRefused("unknown enrolment token")
    if record.revoked_at is not None:
        raise EnrolmentRefused("the enrolment token was revoked")
    if record.expires_at <= now:
        raise EnrolmentRefused(f"the enrolment token expired at {record.expires_at.isoformat()}")
    if record.max_uses is not None and record.uses >= record.max_uses:
        raise EnrolmentRefused(f"the enrolment token was already used {record.uses} time(s), its limit")
    record.uses += 1
    return session.get_one(School, record.school_id)


# --- organisation ---------------------------------------------------------------------------------------


def list_schools(*, session: Session, school_ids: Sequence[int] | None) -> list[School]:
    query = select(School).order_by(School.name)
    if school_ids is not None:
        query = query.where(School.id.in_(school_ids))
    return list(session.scalars(query))


def get(*, session: Session, school_id: int) -> School | None:
    return session.get(School, school_id)


def trust_named(*, session: Session, name: str) -> Trust:
    """The trust (or county) of that name, created if new."""
    trust = session.scalar(select(Trust).where(Trust.name == name))
    if trust is None:
        trust = Trust(name=name)
        session.add(trust)
        session.flush()
    return trust


def trusts(*, session: Session) -> dict[int, Trust]:
    return {trust.id: trust for trust in session.scalars(select(Trust))}


def set_contacts(*, school: School, name: str, email: str, phone: str) -> None:
    school.contact_name = name.strip()[:200]
    school.contact_email = email.strip()[:254]
    school.contact_phone = phone.strip()[:40]


def groups(*, session: Session, school_id: int) -> list[Group]:
    return list(session.scalars(select(Group).where(Group.school_id == school_id).order_by(Group.kind.desc(), Group.name)))


def _group(session: Session, school_id: int, name: str, kind: GroupKind, parent_id: int | None) -> Group:
    group = session.scalar(select(Group).where(Group.school_id == school_id, Group.name == name))
    if group is None:
        group = Group(school_id=school_id, name=name, kind=kind, parent_id=parent_id)
        session.add(group)
        session.flush()
    return group


def pupils(*, session: Session, school_id: int) -> list[Pupil]:
    return list(session.scalars(select(Pupil).where(Pupil.school_id == school_id).order_by(Pupil.surname, Pupil.forename)))


def pupil(*, session: Session, pupil_id: int) -> Pupil | None:
    return session.get(Pupil, pupil_id)


def pupil_by_username(*, session: Session, school_id: int, username: str) -> Pupil | None:
    return session.scalar(select(Pupil).where(Pupil.school_id == school_id, Pupil.username == username))


def inventory(*, session: Session, school_id: int) -> list[InventoryDevice]:
    return list(
        session.scalars(select(InventoryDevice).where(InventoryDevice.school_id == school_id).order_by(InventoryDevice.hostname))
    )


# --- CSV import (the columns a school MIS or asset list exports) -----------------------------------------

PUPIL_COLUMNS = ("UPN", "Surname", "Forename", "Year", "Reg", "Username")
# Optional: the pupil's date of birth, under either name (MIS exports differ), as DD/MM/YYYY or YYYY-MM-DD.
DATE_OF_BIRTH_COLUMNS = ("Date of Birth", "DOB")
OLDEST_PUPIL_YEARS = 30
DEVICE_COLUMNS = ("Hostname", "Asset Tag", "Room", "Operating System")
UPN = re.compile(r"[A-Z][0-9]{12}")
HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,254}")
YEAR = re.compile(r"(?:year\s*)?(\d{1,2})", re.IGNORECASE)
MAX_IMPORT_ROWS = 20_000


class ImportRefused(ValueError):
    """A whole file that cannot be imported (wrong columns, not CSV, too long); the message says why."""


def _rows(text: str, columns: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [column for column in columns if column not in header]
    if missing:
        raise ImportRefused(f"the file needs the columns {', '.join(columns)}; missing: {', '.join(missing)}")
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            if reader.line_num - 1 > MAX_IMPORT_ROWS:
                raise ImportRefused(f"the file has more than {MAX_IMPORT_ROWS} rows; split it")
            if any((value or "").strip() for value in row.values() if isinstance(value, str)):
                rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items() if isinstance(v, str)}))
    except csv.Error as error:
        raise ImportRefused(f"line {reader.line_num}: not valid CSV ({error})") from error
    return rows


def _year_name(value: str) -> str:
    lowered = value.strip().lower()
    if lowered in ("r", "reception", "year r"):
        return "Reception"
    if lowered in ("n", "nursery", "year n"):
        return "Nursery"
    match = YEAR.fullmatch(value.strip())
    if match is None or not 1 <= int(match.group(1)) <= 14:
        raise ValueError(f"Year {value!r} is not a year group (1 to 14, R or N)")
    return f"Year {int(match.group(1))}"


def parse_date_of_birth(value: str, *, today: date) -> date:
    """``31/01/2012`` or ``2012-01-31`` → a date; ValueError (saying what is wrong) for anything else."""
    text = value.strip()
    born = None
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            born = datetime.strptime(text, pattern).date()
            break
        except ValueError:
            continue
    if born is None:
        raise ValueError(f"Date of Birth {value!r} is not a date (DD/MM/YYYY or YYYY-MM-DD)")
    if born > today:
        raise ValueError(f"Date of Birth {value!r} is in the future")
    if born.year < today.year - OLDEST_PUPIL_YEARS:
        raise ValueError(f"Date of Birth {value!r} is more than {OLDEST_PUPIL_YEARS} years ago")
    return born


def import_pupils(*, session: Session, school: School, text: str, today: date | None = None) -> ImportResult:
    """Create or update pupils by UPN; each bad row is refused with its line number and the reason.

    A "Date of Birth" (or "DOB") column is optional; a blank one leaves a pupil's recorded date as it was.
    """
    today = today or utcnow().date()
    result = ImportResult()
    existing = {p.upn: p for p in pupils(session=session, school_id=school.id)}
    username_owner = {p.username: p.upn for p in existing.values()}
    seen_upns: set[str] = set()
    for line, row in _rows(text, PUPIL_COLUMNS):
        upn, username = row["UPN"].upper(), row["Username"]
        problems = []
        if not UPN.fullmatch(upn):
            problems.append(f"UPN {row['UPN']!r} is not a letter and 12 digits")
        elif upn in seen_upns:
            problems.append(f"UPN {upn} appears twice in the file")
        for column in ("Surname", "Forename"):
            if not row[column] or len(row[column]) > 100:
                problems.append(f"{column} must be 1 to 100 characters")
        if not username or len(username) > 100 or any(c.isspace() for c in username):
            problems.append("Username must be 1 to 100 characters without spaces")
        elif username_owner.get(username, upn) != upn:
            problems.append(f"Username {username!r} belongs to another pupil ({username_owner[username]})")
        try:
            year = _year_name(row["Year"])
        except ValueError as error:
            problems.append(str(error))
        if len(row["Reg"]) > 100:
            problems.append("Reg must be at most 100 characters")
        born_text = next((row[column] for column in DATE_OF_BIRTH_COLUMNS if row.get(column)), "")
        born = None
        if born_text:
            try:
                born = parse_date_of_birth(born_text, today=today)
            except ValueError as error:
                problems.append(str(error))
        if problems:
            result.errors.append((line, "; ".join(problems)))
            continue
        seen_upns.add(upn)
        year_group = _group(session, school.id, year, GroupKind.year, None)
        form = _group(session, school.id, row["Reg"], GroupKind.form, year_group.id) if row["Reg"] else None
        pupil = existing.get(upn)
        if pupil is None:
            pupil = Pupil(school_id=school.id, upn=upn)
            session.add(pupil)
            existing[upn] = pupil
            result.created += 1
        else:
            username_owner.pop(pupil.username, None)
            result.updated += 1
        pupil.username, pupil.forename, pupil.surname = username, row["Forename"], row["Surname"]
        pupil.year_group_id, pupil.form_id = year_group.id, form.id if form else None
        if born is not None:
            pupil.date_of_birth = born
        pupil.updated_at = utcnow()
        username_owner[username] = upn
        session.flush()
    return result


def import_devices(*, session: Session, school: School, text: str) -> ImportResult:
    """Create or update the school's device inventory by hostname; bad rows are refused with the reason."""
    result = ImportResult()
    existing = {d.hostname.lower(): d for d in inventory(session=session, school_id=school.id)}
    seen: set[str] = set()
    for line, row in _rows(text, DEVICE_COLUMNS):
        hostname = row["Hostname"]
        problems = []
        if not HOSTNAME.fullmatch(hostname):
            problems.append(f"Hostname {hostname!r} is not a host name (letters, digits, dots and hyphens)")
        elif hostname.lower() in seen:
            problems.append(f"Hostname {hostname} appears twice in the file")
        for column in ("Asset Tag", "Room", "Operating System"):
            if len(row[column]) > 100:
                problems.append(f"{column} must be at most 100 characters")
        if problems:
            result.errors.append((line, "; ".join(problems)))
            continue
        seen.add(hostname.lower())
        device = existing.get(hostname.lower())
        if device is None:
            device = InventoryDevice(school_id=school.id, hostname=hostname)
            session.add(device)
            result.created += 1
        else:
            result.updated += 1
        device.asset_tag, device.room, device.os = row["Asset Tag"], row["Room"], row["Operating System"]
        device.updated_at = utcnow()
    session.flush()
    return result
