"""Notifications in: what came in, what was refused and why, and what matched which list.

Counts only: no media, no identifiers, no report content. Every figure is a count over the store's
tables, named in the provenance line; the PDQ rule cites its evidence id.
"""

from __future__ import annotations

from sqlalchemy import func, select

from safeguarding.evidence import shipped_evidence
from safeguarding.reporting.html import Section, table, tag_badge, text
from safeguarding.store import Store
from safeguarding.store.models import (
    FloodFlag,
    HashList,
    HashMatch,
    ProviderReport,
    QuarantineRecord,
    ReportedFile,
)


def _lists_table(
    lists: list[HashList], matched: dict[tuple[int, str], tuple[int, int]], flags: dict[int, int]
) -> str:
    rows = []
    for h in lists:
        kinds = sorted((k, v) for (list_id, k), v in matched.items() if list_id == h.id)
        for kind, (files, hits) in kinds or [("–", (0, 0))]:
            rows.append(
                [h.name, h.kind, h.version, h.entry_count, h.pdq_threshold, kind, files, hits,
                 flags.get(h.id, 0)]
            )  # fmt: skip
    columns = ["list", "kind", "version", "entries", "PDQ ≤", "hash", "files matched", "matches"]
    return table([*columns, "flood flags"], rows)


def build(store: Store) -> Section | None:
    with store.session() as session:
        intake = session.execute(
            select(ProviderReport.source, ProviderReport.format, func.count())
            .group_by(ProviderReport.source, ProviderReport.format)
            .order_by(ProviderReport.source, ProviderReport.format)
        ).all()
        lists = list(session.scalars(select(HashList).order_by(HashList.name)))
        if not intake and not lists:
            return None
        media = session.execute(
            select(ReportedFile.media_status, func.count()).group_by(ReportedFile.media_status)
        ).all()
        rules = session.execute(
            select(QuarantineRecord.rule, QuarantineRecord.kind, func.count())
            .where(QuarantineRecord.status == "open")
            .group_by(QuarantineRecord.rule, QuarantineRecord.kind)
            .order_by(func.count().desc(), QuarantineRecord.rule)
        ).all()
        matched = {
            (list_id, kind): (files, hits)
            for list_id, kind, files, hits in session.execute(
                select(
                    HashMatch.list_id, HashMatch.hash_kind,
                    func.count(HashMatch.file_id.distinct()), func.count(),
                ).group_by(HashMatch.list_id, HashMatch.hash_kind)
            )
        }  # fmt: skip
        flags = dict(
            session.execute(
                select(FloodFlag.list_id, func.count())
                .where(FloodFlag.status == "open")
                .group_by(FloodFlag.list_id)
            ).all()
        )
    pdq = shipped_evidence().get("pdq.threshold")
    parts = [
        "<p>Provider reports taken in, hashed and matched against hash lists. Counts only: no "
        "media, no identifiers, no report content are shown.</p>",
        "<h3>Reports in</h3>",
        table(["source", "format", "reports"], [[s, f, n] for s, f, n in intake]),
        table(["media", "files"], [[status, n] for status, n in media]),
        "<h3>Quarantine (open)</h3>",
        table(["rule", "kind", "records"], [[r, k, n] for r, k, n in rules])
        if rules
        else "<p>Nothing in quarantine.</p>",
        "<h3>Matches by list</h3>",
        _lists_table(lists, matched, flags),
        f"<p>PDQ rule: {text(pdq.statement)} — <code>{text(pdq.id)}</code> {tag_badge(pdq.tag)}. "
        "Matches on <i>allow</i> lists are known non-abusive content and never count as known "
        "abuse material.</p>",
    ]
    return Section(
        anchor="notifications",
        title="Notifications in",
        body="".join(parts),
        provenance=(
            "counts over provider_report, reported_file, quarantine_record, hash_list, hash_match "
            f"and flood_flag; PDQ threshold from evidence {pdq.citation()}"
        ),
    )
