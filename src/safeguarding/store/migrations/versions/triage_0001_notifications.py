"""Notifications in: provider reports, parties, identifiers, files, hashes, hash lists, matches,
flood flags, quarantine and ingest runs.

Revision ID: triage_0001
Revises: 0001_core
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "triage_0001"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("triage",)
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def _flags(*names: str) -> list[sa.Column[bool]]:
    return [sa.Column(name, sa.Boolean(), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "ingest_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(120), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ),
        sa.Column("reports_stored", sa.Integer(), nullable=False),
        sa.Column("reports_unchanged", sa.Integer(), nullable=False),
        sa.Column("files_stored", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("matches", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_run")),
    )
    op.create_table(
        "provider_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(120), nullable=False),
        sa.Column("provider_report_id", sa.String(64), nullable=False),
        sa.Column("content_digest", sa.String(64), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("ingest_run_id", sa.Integer()),
        sa.Column("incident_type", sa.String(80)),
        sa.Column("incident_time", TZ),
        sa.Column("provider", sa.String(256)),
        sa.Column("platform", sa.String(256)),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("escalation_text_length", sa.Integer()),
        *_flags(
            "annotation_sextortion",
            "annotation_csam_solicitation",
            "annotation_minor_to_minor",
            "annotation_spam",
            "annotation_sadistic_online_exploitation",
            "annotation_informational",
        ),
        sa.Column("batched_reason", sa.String(64)),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("unknown_element_count", sa.Integer(), nullable=False),
        sa.Column("unknown_element_names", sa.JSON(), nullable=False),
        sa.Column("unknown_elements_sealed", sa.LargeBinary()),
        sa.ForeignKeyConstraint(
            ["ingest_run_id"],
            ["ingest_run.id"],
            name=op.f("fk_provider_report_ingest_run_id_ingest_run"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_report")),
        sa.UniqueConstraint("source", "provider_report_id", name=op.f("uq_provider_report_source")),
    )
    for column in ("ingest_run_id", "incident_type", "provider", "received_at"):
        op.create_index(op.f(f"ix_provider_report_{column}"), "provider_report", [column])

    op.create_table(
        "report_party",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer()),
        sa.Column("role", sa.String(24), nullable=False),
        sa.Column("esp_service", sa.String(256)),
        sa.Column("age", sa.Integer()),
        sa.Column("compromised_account", sa.Boolean()),
        sa.Column("account_temporarily_disabled", sa.Boolean()),
        sa.Column("account_permanently_disabled", sa.Boolean()),
        sa.Column("prior_ct_reports_count", sa.Integer(), nullable=False),
        sa.Column("location_country", sa.String(8)),
        sa.Column("location_region", sa.String(64)),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["provider_report.id"],
            name=op.f("fk_report_party_report_id_provider_report"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["report_party.id"],
            name=op.f("fk_report_party_parent_id_report_party"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_party")),
    )
    op.create_index(op.f("ix_report_party_report_id"), "report_party", ["report_id"])

    op.create_table(
        "party_identifier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer()),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("pseudonym", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("event_name", sa.String(32)),
        sa.Column("event_time", TZ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["provider_report.id"],
            name=op.f("fk_party_identifier_report_id_provider_report"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["report_party.id"],
            name=op.f("fk_party_identifier_party_id_report_party"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_identifier")),
    )
    op.create_index(op.f("ix_party_identifier_report_id"), "party_identifier", ["report_id"])
    op.create_index(op.f("ix_party_identifier_party_id"), "party_identifier", ["party_id"])
    op.create_index("ix_party_identifier_kind_pseudonym", "party_identifier", ["kind", "pseudonym"])

    op.create_table(
        "report_internet_detail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("client", sa.String(256)),
        sa.Column("url_hosts", sa.JSON(), nullable=False),
        sa.Column("third_party_hosted", sa.Boolean()),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["provider_report.id"],
            name=op.f("fk_report_internet_detail_report_id_provider_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_internet_detail")),
    )
    op.create_index(
        op.f("ix_report_internet_detail_report_id"), "report_internet_detail", ["report_id"]
    )

    op.create_table(
        "reported_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("provider_file_id", sa.String(64), nullable=False),
        sa.Column("content_digest", sa.String(64), nullable=False),
        sa.Column("extension", sa.String(16)),
        sa.Column("uploaded_at", TZ),
        sa.Column("file_relevance", sa.String(32)),
        sa.Column("viewed_by_esp", sa.Boolean()),
        sa.Column("exif_viewed_by_esp", sa.Boolean()),
        sa.Column("publicly_available", sa.Boolean()),
        *_flags(
            "potential_meme",
            "annotation_anime_drawing",
            "annotation_viral",
            "annotation_possible_self_production",
            "annotation_physical_harm",
            "annotation_violence_gore",
            "annotation_bestiality",
            "annotation_live_streaming",
            "annotation_infant",
            "annotation_generative_ai",
        ),
        sa.Column("industry_classification", sa.String(2)),
        sa.Column("media_status", sa.String(16), nullable=False),
        sa.Column("unhashable_reason", sa.String(64)),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["provider_report.id"],
            name=op.f("fk_reported_file_report_id_provider_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reported_file")),
        sa.UniqueConstraint(
            "report_id", "provider_file_id", name=op.f("uq_reported_file_report_id")
        ),
    )
    op.create_index(op.f("ix_reported_file_report_id"), "reported_file", ["report_id"])

    op.create_table(
        "file_hash",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("quality", sa.Integer()),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["reported_file.id"],
            name=op.f("fk_file_hash_file_id_reported_file"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_hash")),
        sa.UniqueConstraint("file_id", "kind", "value", name=op.f("uq_file_hash_file_id")),
    )
    op.create_index("ix_file_hash_kind_value", "file_hash", ["kind", "value"])

    op.create_table(
        "hash_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("format_version", sa.String(16)),
        sa.Column("source_file", sa.String(256), nullable=False),
        sa.Column("imported_at", TZ, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("pdq_threshold", sa.Integer(), nullable=False),
        sa.Column("flood_share", sa.Float(), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("quarantined_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_list")),
        sa.UniqueConstraint("name", name=op.f("uq_hash_list_name")),
    )

    op.create_table(
        "hash_list_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("source_category", sa.String(16)),
        sa.Column("source_scheme", sa.String(16), nullable=False),
        sa.Column("source_media_id", sa.String(64)),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["hash_list.id"],
            name=op.f("fk_hash_list_entry_list_id_hash_list"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_list_entry")),
        sa.UniqueConstraint("list_id", "kind", "value", name=op.f("uq_hash_list_entry_list_id")),
    )
    op.create_index("ix_hash_list_entry_kind_value", "hash_list_entry", ["kind", "value"])

    op.create_table(
        "hash_match",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("hash_kind", sa.String(16), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("matched_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["reported_file.id"],
            name=op.f("fk_hash_match_file_id_reported_file"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["hash_list.id"],
            name=op.f("fk_hash_match_list_id_hash_list"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hash_list_entry.id"],
            name=op.f("fk_hash_match_entry_id_hash_list_entry"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_match")),
        sa.UniqueConstraint("file_id", "entry_id", "hash_kind", name=op.f("uq_hash_match_file_id")),
    )
    for column in ("file_id", "list_id", "entry_id"):
        op.create_index(op.f(f"ix_hash_match_{column}"), "hash_match", [column])

    op.create_table(
        "flood_flag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("matched_files", sa.Integer(), nullable=False),
        sa.Column("checked_files", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("flagged_at", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hash_list_entry.id"],
            name=op.f("fk_flood_flag_entry_id_hash_list_entry"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["hash_list.id"],
            name=op.f("fk_flood_flag_list_id_hash_list"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flood_flag")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_flood_flag_entry_id")),
    )
    op.create_index(op.f("ix_flood_flag_list_id"), "flood_flag", ["list_id"])

    op.create_table(
        "quarantine_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(120), nullable=False),
        sa.Column("source_file", sa.String(512), nullable=False),
        sa.Column("location", sa.String(512), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("provider_report_id", sa.String(64)),
        sa.Column("hash_list_id", sa.Integer()),
        sa.Column("raw_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("raw_digest", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("resolved_at", TZ),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hash_list_id"],
            ["hash_list.id"],
            name=op.f("fk_quarantine_record_hash_list_id_hash_list"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine_record")),
        sa.UniqueConstraint(
            "source", "location", "raw_digest", name=op.f("uq_quarantine_record_source")
        ),
    )
    op.create_index(op.f("ix_quarantine_record_rule"), "quarantine_record", ["rule"])
    op.create_index(
        op.f("ix_quarantine_record_hash_list_id"), "quarantine_record", ["hash_list_id"]
    )


def downgrade() -> None:
    for table in (
        "quarantine_record",
        "flood_flag",
        "hash_match",
        "hash_list_entry",
        "hash_list",
        "file_hash",
        "reported_file",
        "report_internet_detail",
        "party_identifier",
        "report_party",
        "provider_report",
        "ingest_run",
    ):
        op.drop_table(table)
