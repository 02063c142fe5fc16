"""Records management: the log of every purge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from console.store import Base, UTCDateTime


class PurgeRun(Base):
    __tablename__ = "purge_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    # {"events": 120, "alerts": 3, ...}
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # Which records went, by kind: {"alerts": [1, 2], "cases": [7], "events": [["dev", 1, 120]]}
    deleted: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What was due but kept, and why: {"cases": {"7": "legal hold"}}
    kept: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
