"""Triage results: content clusters, subjects, priority decisions, runs and outcomes.

Cluster and subject ids are the id of their oldest member (a reported file, a provider report), so
they stay put as new reports join. Decisions keep the policy that made them (name, version and
digest) and their reasons as JSON naming rules and evidence in the report, never identifiers.
Outcome notes are sealed (AES-GCM under the ``notes`` key, outside the database) and never enter
statistics.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from safeguarding.store.base import Base


class TriageRun(Base):
    """One ``safeguarding triage run``: what was clustered and scored, and how many levels moved."""

    __tablename__ = "triage_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    mode: Mapped[str] = mapped_column(String(16))  # full | incremental
    policy: Mapped[str] = mapped_column(String(160))
    policy_digest: Mapped[str] = mapped_column(String(64))
    reports: Mapped[int] = mapped_column(Integer)
    new_reports: Mapped[int] = mapped_column(Integer)
    new_files: Mapped[int] = mapped_column(Integer)
    content_clusters: Mapped[int] = mapped_column(Integer)
    subjects: Mapped[int] = mapped_column(Integer)
    merged_clusters: Mapped[int] = mapped_column(Integer)
    merged_subjects: Mapped[int] = mapped_column(Integer)
    compared: Mapped[int] = mapped_column(Integer)
    changed_level: Mapped[int] = mapped_column(Integer)
    raised: Mapped[int] = mapped_column(Integer)
    lowered: Mapped[int] = mapped_column(Integer)


class FileCluster(Base):
    """The content cluster a reported file belongs to (persisted so new files join, not redo)."""

    __tablename__ = "triage_file_cluster"

    file_id: Mapped[int] = mapped_column(
        ForeignKey("reported_file.id", ondelete="CASCADE"), primary_key=True
    )
    cluster_id: Mapped[int] = mapped_column(Integer, index=True)


class ContentCluster(Base):
    """A content cluster: the same or near-identical material across reports."""

    __tablename__ = "triage_content_cluster"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    files: Mapped[int] = mapped_column(Integer)
    reports: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    providers: Mapped[list[str]] = mapped_column(JSON)
    known_files: Mapped[int] = mapped_column(Integer)
    allow_files: Mapped[int] = mapped_column(Integer)
    meme_files: Mapped[int] = mapped_column(Integer)
    batched_files: Mapped[int] = mapped_column(Integer)
    large: Mapped[bool] = mapped_column(Boolean)
    annotated: Mapped[bool] = mapped_column(Boolean)
    batched: Mapped[bool] = mapped_column(Boolean)
    viral: Mapped[bool] = mapped_column(Boolean, index=True)


class Subject(Base):
    """Reports about one reported user, linked through pseudonymised identifiers."""

    __tablename__ = "triage_subject"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    reports: Mapped[int] = mapped_column(Integer)
    files: Mapped[int] = mapped_column(Integer)
    providers: Mapped[list[str]] = mapped_column(JSON)
    first_report: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_report: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    prior_ct_reports: Mapped[int] = mapped_column(Integer)


class PriorityDecision(Base):
    """The current priority of a report, with the policy and the reasons that produced it."""

    __tablename__ = "triage_priority"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("provider_report.id", ondelete="CASCADE"), primary_key=True
    )
    subject_id: Mapped[int] = mapped_column(Integer, index=True)
    work_item: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    route: Mapped[str] = mapped_column(String(16))
    detection: Mapped[str] = mapped_column(String(24))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    policy: Mapped[str] = mapped_column(String(160))
    policy_digest: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int] = mapped_column(ForeignKey("triage_run.id", ondelete="CASCADE"))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A 64-bit digest of everything the decision and its reasons were made from: a run rewrites
    # only the decisions whose fingerprint moved (NULL: from before fingerprints, rewritten).
    fingerprint: Mapped[int | None] = mapped_column(BigInteger)


class TriageOutcome(Base):
    """What came of an assessed report and the minutes it took (one per report; re-recording
    replaces it). ``synthetic`` marks demo data."""

    __tablename__ = "triage_outcome"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("provider_report.id", ondelete="CASCADE"), primary_key=True
    )
    result: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str | None] = mapped_column(String(32))
    minutes: Mapped[float] = mapped_column(Float)
    level: Mapped[str | None] = mapped_column(String(16))
    note_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class TriageInputCache(Base):
    """The last run's inputs and results as columns (``triage.input_cache``), so the next run
    reads only the rows stored since. Each column is one or more numpy arrays (``part`` 0, 1 …,
    concatenated in order: columns that only grow get one part per run). Derived entirely from
    the other tables: deleting every row only makes the next run read the store in full."""

    __tablename__ = "triage_input_cache"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RowDeletions(Base):
    """How many rows were ever deleted from each table triage reads, counted by triggers on
    SQLite (``triage_results_0006``). An incremental triage run compares these with the counts
    its cache kept instead of counting every row (a scan of hundreds of megabytes at a million
    reports). PostgreSQL keeps no triggers: there the run counts rows, which also notices rows
    committed late below its watermark; on SQLite a single writer makes ids grow with commits."""

    __tablename__ = "triage_row_deletions"

    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    deleted: Mapped[int] = mapped_column(BigInteger)
