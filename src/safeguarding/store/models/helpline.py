"""Helpline contact reports, their multi-select codes, encrypted notes, and the DP budget ledger.

The contact table holds coded fields only. The free-text note lives in its own table, encrypted,
with an expiry date; statistics read the contact, risk-factor and help-need tables and nothing
else, so a note cannot reach a statistic by accident.

The differential-privacy ledger (``dp_budget``, ``dp_release``) is shared: any area that releases
noisy counts of a dataset spends from that dataset's budget here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from safeguarding.store.base import Base


class HelplineContactRow(Base):
    """One contact, coded. ``import_key`` makes re-imports idempotent; ``caller_key`` is a keyed
    pseudonym of the caller's chosen token, never the token."""

    __tablename__ = "helpline_contact"
    __table_args__ = (Index("ix_helpline_contact_period", "year", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_key: Mapped[str] = mapped_column(String(64), unique=True)
    contact_ref: Mapped[str | None] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    contact_kind: Mapped[str] = mapped_column(String(10))
    caller_key: Mapped[str | None] = mapped_column(String(32))
    caller_type: Mapped[str] = mapped_column(String(20))
    concern: Mapped[str] = mapped_column(String(30))
    age_band: Mapped[str] = mapped_column(String(10))
    gender: Mapped[str] = mapped_column(String(10))
    risk_factors_recorded: Mapped[bool] = mapped_column(Boolean)
    help_needs_recorded: Mapped[bool] = mapped_column(Boolean)
    action: Mapped[str] = mapped_column(String(30))
    referral: Mapped[str] = mapped_column(String(30))
    synthetic: Mapped[bool] = mapped_column(Boolean)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HelplineRiskFactorRow(Base):
    """One risk factor of a contact, stated by the caller or assessed by the counsellor."""

    __tablename__ = "helpline_risk_factor"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("helpline_contact.id", ondelete="CASCADE"), primary_key=True
    )
    factor: Mapped[str] = mapped_column(String(40), primary_key=True)
    basis: Mapped[str] = mapped_column(String(10))


class HelplineHelpNeedRow(Base):
    """One help need a contact expressed."""

    __tablename__ = "helpline_help_need"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("helpline_contact.id", ondelete="CASCADE"), primary_key=True
    )
    need: Mapped[str] = mapped_column(String(30), primary_key=True)


class HelplineNoteRow(Base):
    """A counsellor's note, AES-GCM encrypted; deleted by ``helpline purge-notes`` after expiry."""

    __tablename__ = "helpline_note"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("helpline_contact.id", ondelete="CASCADE"), primary_key=True
    )
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class DpBudgetRow(Base):
    """The privacy budget (total epsilon) of one dataset and how much of it is spent."""

    __tablename__ = "dp_budget"

    dataset: Mapped[str] = mapped_column(String(60), primary_key=True)
    epsilon_total: Mapped[float] = mapped_column(Float)
    epsilon_spent: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DpReleaseRow(Base):
    """One differentially private release: what was asked, with which mechanism, at what cost."""

    __tablename__ = "dp_release"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(ForeignKey("dp_budget.dataset"), index=True)
    query: Mapped[str] = mapped_column(String(200))
    mechanism: Mapped[str] = mapped_column(String(60))
    epsilon: Mapped[float] = mapped_column(Float)
    released_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
