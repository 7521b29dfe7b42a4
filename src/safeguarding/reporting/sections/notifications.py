"""Notifications in: what came in, what was refused and why, and what matched which list.

Counts only: no media, no identifiers, no report content. Every figure is a count over the store's
tables, named in the provenance line; the PDQ rule cites its evidence id. The monitor is read by
researchers too, so counts of reports, files and records are under disclosure control: reports
by source and format and files by media status as protected tables with their totals, counts
with no total around them (quarantined records, files matched) with the minimum cell.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, func, select

from safeguarding.disclosure.suppression import protect_table
from safeguarding.evidence import shipped_evidence
from safeguarding.reporting.html import Section, figure_tags, table, text
from safeguarding.reporting.protected import WITHHELD, cell, protected_table
from safeguarding.store import Store
from safeguarding.store.models import (
    FloodFlag,
    HashList,
    HashMatch,
    ProviderReport,
    QuarantineRecord,
    ReportedFile,
)
from safeguarding.triage.aggregates import (
    min_cell_setting,
    scored_reports_withheld,
    small_withheld,
)


def _lists_table(
    lists: list[HashList],
    matched: dict[tuple[int, str], tuple[int, int]],
    flags: dict[int, int],
    min_cell: int,
) -> str:
    rows = []
    for h in lists:
        kinds = sorted((k, v) for (list_id, k), v in matched.items() if list_id == h.id)
        for kind, (files, hits) in kinds or [("–", (0, 0))]:
            rows.append(
                [h.name, h.kind, h.version, h.entry_count, h.pdq_threshold, kind,
                 cell(small_withheld(files, min_cell)), cell(small_withheld(hits, min_cell)),
                 flags.get(h.id, 0)]
            )  # fmt: skip
    columns = ["list", "kind", "version", "entries", "PDQ ≤", "hash", "files matched", "matches"]
    return table([*columns, "flood flags"], rows)


def _intake_table(intake: Sequence[Row[str, str, int]], min_cell: int) -> str:
    """Reports by source and format, with their totals, under disclosure control."""
    sources = sorted({source for source, _format, _n in intake})
    formats = sorted({fmt for _source, fmt, _n in intake})
    counts = {(source, fmt): n for source, fmt, n in intake}
    return protected_table(
        protect_table(
            [[counts.get((source, fmt), 0) for fmt in formats] for source in sources],
            sources, formats, title="reports by source and format", unit="reports",
            min_cell=min_cell,
        )
    )  # fmt: skip


def _intake(store: Store, intake: Sequence[Row[str, str, int]], min_cell: int) -> str:
    if not intake:
        return "<p>No reports yet.</p>"
    if scored_reports_withheld(store, min_cell):
        return (
            f"<p>Reports by source and format: withheld (<b>{WITHHELD}</b>), as the number of "
            "reports scored is in the triage section.</p>"
        )
    return _intake_table(intake, min_cell)


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
    min_cell = min_cell_setting(store)
    parts = [
        "<p>Provider reports taken in, hashed and matched against hash lists. Counts only: no "
        "media, no identifiers, no report content are shown. Counts of reports, files and "
        f"records below {min_cell}, and the counts that would reveal them, are withheld "
        f"(<b>{WITHHELD}</b>).</p>",
        "<h3>Reports in</h3>",
        _intake(store, intake, min_cell),
        protected_table(
            protect_table(
                [[n for _status, n in media]],
                ["files"],
                [status for status, _n in media],
                title="files by media status",
                unit="files",
                min_cell=min_cell,
            )
        )
        if media
        else "",
        "<h3>Quarantine (open)</h3>",
        table(
            ["rule", "kind", "records"],
            [[r, k, cell(small_withheld(n, min_cell))] for r, k, n in rules],
        )
        if rules
        else "<p>Nothing in quarantine.</p>",
        "<h3>Matches by list</h3>",
        _lists_table(lists, matched, flags, min_cell),
        f"<p>PDQ rule: {text(pdq.statement)} — <code>{text(pdq.id)}</code> {figure_tags(pdq)}. "
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
