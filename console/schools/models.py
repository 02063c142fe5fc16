from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime, utcnow


class Phase(StrEnum):
    primary = "primary"
    secondary = "secondary"


class Trust(Base):
    """A county or multi-academy trust: the organisation that runs the console for its schools."""

    __tablename__ = "trusts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class School(Base):
    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    phase: Mapped[Phase] = mapped_column(String(16))
    trust_id: Mapped[int | None] = mapped_column(ForeignKey("trusts.id"), default=None)
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    # The school's own address ranges (CIDR, e.g. "10.12.0.0/16"): web-filter log lines from these addresses
    # belong to the school even when no enrolled device was seen there (devices without an agent).
    networks: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupKind(StrEnum):
    year = "year"  # a year group, e.g. "Year 7"
    form = "form"  # a registration class inside a year group, e.g. "7B"


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("school_id", "name", name="uq_group_school_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[GroupKind] = mapped_column(String(10))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"), default=None)


class Pupil(Base):
    """A pupil as the school's MIS knows them; ``username`` is their login on school devices."""

    __tablename__ = "pupils"
    __table_args__ = (
        UniqueConstraint("school_id", "upn", name="uq_pupil_school_upn"),
        UniqueConstraint("school_id", "username", name="uq_pupil_school_username"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    upn: Mapped[str] = mapped_column(String(13))
    username: Mapped[str] = mapped_column(String(100))
    forename: Mapped[str] = mapped_column(String(100))
    surname: Mapped[str] = mapped_column(String(100))
    year_group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"), default=None)
    form_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"), default=None)
    # From the MIS export when it has one; closed child-protection cases are kept until the pupil's 25th birthday.
    date_of_birth: Mapped[date | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InventoryDevice(Base):
    """A device the school says it has (imported from its asset list); coverage compares enrolled devices to it."""

    __tablename__ = "inventory_devices"
    __table_args__ = (UniqueConstraint("school_id", "hostname", name="uq_inventory_school_hostname"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    hostname: Mapped[str] = mapped_column(String(255))
    asset_tag: Mapped[str] = mapped_column(String(100), default="")
    room: Mapped[str] = mapped_column(String(100), default="")
    os: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EnrolmentToken(Base):
    """A school's token, exchanged by each of its devices once for a device certificate."""

    __tablename__ = "enrolment_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    max_uses: Mapped[int | None] = mapped_column(default=None)
    uses: Mapped[int] = mapped_column(default=0)


class SchoolRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    phase: Phase
    trust_id: int | None
    contact_name: str
    contact_email: str
    contact_phone: str


class PupilRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    school_id: int
    upn: str
    username: str
    forename: str
    surname: str
    year_group_id: int | None
    form_id: int | None
    date_of_birth: date | None


class ImportResult(BaseModel):
    """What a CSV import did: rows created and updated, and each refused row with its line and reason."""

    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = []
