"""Assessment results: each scenario of a run with its summary, sensitivity and queue.

Runs are stored rather than recomputed by every page because the web app and the monitor report
show the same comparison, and a stored run keeps the exact numbers a reader was shown, together
with the draws, the seed and the parameters (with their sources) that produced them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safeguarding.store.base import Base


class AssessResultRow(Base):
    """One scenario's results in one assessment run."""

    __tablename__ = "assess_result"
    __table_args__ = (UniqueConstraint("run", "scenario"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run: Mapped[str] = mapped_column(String(64), index=True)
    position: Mapped[int] = mapped_column(Integer)
    scenario: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(String(20))
    draws: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)  # up to MAX_SEED, past PostgreSQL's int4
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
