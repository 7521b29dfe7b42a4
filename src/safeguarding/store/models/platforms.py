"""The platform register, coded case mentions and risk assessments.

A service's features and safeguards are rows of their own, so queries such as "services with
network-expansion prompts and no age verification" are plain SQL. Case mentions hold a keyed
pseudonym of the case number, never the number. Each assessment run records the version and
digest of the rules that produced it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safeguarding.store.base import Base


class PlatformServiceRow(Base):
    """One service (or part of one) in the register, with every number's source."""

    __tablename__ = "platform_service"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32), index=True)
    provider: Mapped[str] = mapped_column(String(200))
    part_of: Mapped[str | None] = mapped_column(String(80))
    provider_size: Mapped[str | None] = mapped_column(String(16))
    dsa_role: Mapped[str | None] = mapped_column(String(32))
    vlop_designated: Mapped[bool | None] = mapped_column(Boolean)
    vlop_date: Mapped[date | None] = mapped_column(Date)
    vlop_source: Mapped[str | None] = mapped_column(Text)
    eu_recipients: Mapped[int | None] = mapped_column(BigInteger)
    eu_recipients_date: Mapped[date | None] = mapped_column(Date)
    eu_recipients_source: Mapped[str | None] = mapped_column(Text)
    uk_users: Mapped[int | None] = mapped_column(BigInteger)
    uk_users_date: Mapped[date | None] = mapped_column(Date)
    uk_users_source: Mapped[str | None] = mapped_column(Text)
    age_assurance: Mapped[str] = mapped_column(String(32))
    adult: Mapped[bool | None] = mapped_column(Boolean)
    report_response_hours: Mapped[float | None] = mapped_column(Float)
    daily_messages: Mapped[float | None] = mapped_column(Float)
    daily_images: Mapped[float | None] = mapped_column(Float)
    daily_videos: Mapped[float | None] = mapped_column(Float)
    volumes_source: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    synthetic: Mapped[bool] = mapped_column(Boolean)
    register_file: Mapped[str] = mapped_column(String(255))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    features: Mapped[list[PlatformFeatureRow]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="PlatformFeatureRow.feature"
    )
    safeguards: Mapped[list[PlatformSafeguardRow]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="PlatformSafeguardRow.measure"
    )


class PlatformFeatureRow(Base):
    """A risk factor a service has (an Ofcom U2U Risk Profile factor, by name)."""

    __tablename__ = "platform_feature"

    service_id: Mapped[str] = mapped_column(
        ForeignKey("platform_service.id", ondelete="CASCADE"), primary_key=True
    )
    feature: Mapped[str] = mapped_column(String(40), primary_key=True)


class PlatformSafeguardRow(Base):
    """A safeguard a service has, claimed or proven."""

    __tablename__ = "platform_safeguard"

    service_id: Mapped[str] = mapped_column(
        ForeignKey("platform_service.id", ondelete="CASCADE"), primary_key=True
    )
    measure: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))


class PlatformCaseMentionRow(Base):
    """One coded mention of a platform at a stage in an anonymised case file."""

    __tablename__ = "platform_case_mention"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_pseudonym: Mapped[str] = mapped_column(String(32), index=True)
    platform: Mapped[str | None] = mapped_column(String(200), index=True)
    stage: Mapped[str] = mapped_column(String(3))
    role_pair: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PlatformAssessmentRunRow(Base):
    """One run of ``platforms assess``: which rules, when, over how many services."""

    __tablename__ = "platform_assessment_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rules_version: Mapped[str] = mapped_column(String(64))
    rules_digest: Mapped[str] = mapped_column(String(64))
    rules_file: Mapped[str] = mapped_column(Text)
    assessed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    services: Mapped[int] = mapped_column(Integer)


class PlatformAssessmentRow(Base):
    """The level of one harm on one service in one run, with what drove it."""

    __tablename__ = "platform_assessment"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("platform_assessment_run.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[str] = mapped_column(
        ForeignKey("platform_service.id", ondelete="CASCADE"), primary_key=True
    )
    harm: Mapped[str] = mapped_column(String(32), primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    evidence_cases: Mapped[int] = mapped_column(Integer)
    cases_per_million: Mapped[float | None] = mapped_column(Float)
    factors: Mapped[list[str]] = mapped_column(JSON)
    drivers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
