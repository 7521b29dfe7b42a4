"""The stored state of the intake by natural keys (no row ids), to compare two stores."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from safeguarding.store import Store

QUERIES = {
    "reports": "SELECT source, provider_report_id, content_digest, incident_type, provider, "
    "escalated, unknown_element_count FROM provider_report",
    "parties": "SELECT r.provider_report_id, p.role, p.esp_service, p.age, "
    "p.prior_ct_reports_count FROM report_party p JOIN provider_report r ON r.id = p.report_id",
    "identifiers": "SELECT r.provider_report_id, i.kind, i.pseudonym, i.scope "
    "FROM party_identifier i JOIN provider_report r ON r.id = i.report_id",
    "files": "SELECT r.provider_report_id, f.provider_file_id, f.content_digest, f.media_status "
    "FROM reported_file f JOIN provider_report r ON r.id = f.report_id",
    "hashes": "SELECT f.provider_file_id, h.kind, h.value, h.origin FROM file_hash h "
    "JOIN reported_file f ON f.id = h.file_id",
    "matches": "SELECT f.provider_file_id, l.name, e.kind, e.value, m.distance FROM hash_match m "
    "JOIN reported_file f ON f.id = m.file_id JOIN hash_list l ON l.id = m.list_id "
    "JOIN hash_list_entry e ON e.id = m.entry_id",
    "quarantine": "SELECT source, location, rule, raw_digest, status FROM quarantine_record",
}


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows as sorted tuples; lists to keep duplicates visible."""
    with store.engine.connect() as connection:
        return {
            name: sorted(tuple(row) for row in connection.execute(text(query)))
            for name, query in QUERIES.items()
        }
