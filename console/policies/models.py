from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime, utcnow


class SchoolPolicy(Base):
    """The capture policy pushed to a school's agents; each change increments the version."""

    __tablename__ = "school_policies"

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(default="")
