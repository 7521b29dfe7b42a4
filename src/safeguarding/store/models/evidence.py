"""The evidence base as loaded into the store, so pages and reports can join against it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from safeguarding.store.base import Base


class EvidenceFigureRow(Base):
    """One published figure with its source and reliability tag (P, S or U)."""

    __tablename__ = "evidence_figure"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    topic: Mapped[str] = mapped_column(String(120))
    statement: Mapped[str] = mapped_column(Text)
    year_from: Mapped[int | None] = mapped_column(Integer)
    year_to: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    tag: Mapped[str] = mapped_column(String(1))
    note: Mapped[str | None] = mapped_column(Text)
    values: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    data_version: Mapped[str] = mapped_column(String(64))
