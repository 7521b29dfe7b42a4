"""Hash lists in the store: import (new or updated), list, show, remove; retroactive matching.

An import makes the stored list equal to the file: new entries are added, entries no longer in the
file removed (with their matches), changed categories updated. Re-importing the same file changes
nothing (same version). A list's kind and PDQ threshold are kept unless the import gives them
(a new list: ``known`` and the configured threshold); one given and different is changed, and
the summary says so (``settings_changed``). When the list changed, its PDQ index segment is
rebuilt (that list only) and every stored file is matched against it again, all in the import's
transaction; bad entries go to quarantine and the rest imports. Imports and removals lock the
lists first (``lock_lists``) and renew their state token when they change one, so intake running
meanwhile matches each batch against the lists as they are when the batch commits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from safeguarding.access import audit
from safeguarding.access.audit import Actor
from safeguarding.errors import NotFoundError, ValidationError
from safeguarding.hashing.kinds import HashKind
from safeguarding.hashing.pdq_bits import hex_to_words
from safeguarding.input_files import read_input
from safeguarding.store import Store
from safeguarding.store.models import (
    FloodFlag,
    HashList,
    HashListEntry,
    HashMatch,
    QuarantineRecord,
)
from safeguarding.triage.listformats import ParsedList, Scheme, read_hash_csv, read_vics
from safeguarding.triage.matching import (
    Matcher,
    flood_window,
    lists_changed,
    lock_lists,
    new_version_token,
    segment_name,
    window_matches,
)
from safeguarding.triage.options import TriageOptions
from safeguarding.triage.quarantine import raw_digest, record_rejections
from safeguarding.triage.records import Rejected
from safeguarding.triage.sealing import Sealer
from safeguarding.triage.writer import insert_rows

LIST_KINDS = ("known", "allow")
NAME_MAX = 120
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
# How a person closes a flood flag: the entry is right (the content is that common), or it was
# wrong and the list has been put right.
FlagReview = Literal["dismissed", "resolved"]
FLAG_REVIEWS: tuple[str, ...] = get_args(FlagReview)
FLAGS_SHOWN = 200
MAX_LIST_BYTES = 2_000_000_000
Setting = str | int | float


@dataclass(frozen=True)
class ImportSummary:
    """What an import did; ``quarantined``: records new or opened again by this import,
    ``quarantine_open``: the list's records open after it (refused again by this file or not
    yet looked at); ``settings_changed``: each setting of an existing list the import changed,
    with its value before and after (a new list has none)."""

    name: str
    list_id: int
    version: int
    changed: bool
    added: int
    removed: int
    recategorised: int
    entries: int
    quarantined: int
    quarantine_open: int
    matches: int
    settings_changed: dict[str, tuple[Setting, Setting]]


def list_name(raw: str) -> str:
    """The name a list is stored under: ``raw`` in NFKC form without surrounding spaces, of 1 to
    ``NAME_MAX`` letters, digits and ``. _ -``, starting with a letter or digit; otherwise
    refused, naming the field and the rule.

    A name is typed at the command line, put in the web app's paths and shown on its pages: one
    with a ``/`` (or ``..``) could be made but not removed on the web, and invisible and
    right-to-left characters make a second list look like another. Every import, from the
    command line or the web, takes a name through this one rule. Lists named before it keep
    their names and can still be removed (``hashlist remove NAME``, or by id on the web)."""
    name = unicodedata.normalize("NFKC", raw).strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ValidationError(
            f"name: 1 to {NAME_MAX} characters", location="name", rule="name_length"
        )
    if not _NAME.match(name):
        raise ValidationError(
            "name: letters, digits and . _ - only, starting with a letter or digit (no '/', "
            "spaces, control or invisible characters)",
            location="name",
            rule="name_characters",
        )
    return name


def list_name_by_id(session: Session, list_id: int) -> str:
    name = session.scalar(select(HashList.name).where(HashList.id == list_id))
    if name is None:
        raise NotFoundError(f"no hash list with id {list_id}; see: safeguarding hashlist list")
    return name


def list_source(name: str) -> str:
    return f"hashlist:{name}"


def read_list_file(
    path: Path, format: str | None, *, hash_type: HashKind | None, scheme: Scheme | None
) -> ParsedList:
    data = read_input(path, max_bytes=MAX_LIST_BYTES)
    chosen = format or ("vics" if path.suffix.lower() == ".json" else "csv")
    if chosen == "vics":
        return read_vics(data, path.name, scheme)
    return read_hash_csv(data, path.name, hash_type=hash_type, scheme=scheme or "none")


def import_list(
    store: Store,
    matcher: Matcher,
    sealer: Sealer,
    parsed: ParsedList,
    *,
    name: str,
    source_file: str,
    flood_share: float,
    actor: Actor,
    kind: str | None = None,
    pdq_threshold: int | None = None,
) -> ImportSummary:
    """Make the stored list ``name`` equal to ``parsed`` and match it against stored files;
    audited as ``actor``'s, in the transaction of the change. ``kind`` and ``pdq_threshold``
    None keep the stored list's (a new list gets ``known`` and the matcher's default): a
    re-import that does not name them must not silently turn an allow list into a known one or
    reset a tuned threshold."""
    name = list_name(name)
    if kind is not None and kind not in LIST_KINDS:
        raise ValidationError(f"list kind {kind!r}: known or allow", rule="unknown_enum")
    if not parsed.entries:
        # Importing makes the stored list equal to the file: a file with no valid entry (empty,
        # in another encoding, of another layout) would silently empty a list and its matches.
        # Refused whole instead; ``hashlist remove`` is how a list is emptied.
        first = parsed.rejected[0] if parsed.rejected else None
        reason = (
            f"{first.message} (entries refused: {len(parsed.rejected)})"
            if first
            else "the file holds no entries"
        )
        raise ValidationError(
            f"{source_file}: no valid entry, nothing imported: {reason}",
            location=first.location if first else source_file,
            rule=first.rule if first else "empty_list",
        )
    with store.session() as session:
        lock_lists(session)
        hash_list = session.scalar(select(HashList).where(HashList.name == name))
        now = datetime.now(UTC)
        if hash_list is None:
            hash_list = HashList(
                name=name, kind=kind or "known", format=parsed.format,
                format_version=parsed.format_version, source_file=source_file[:256],
                imported_at=now, version=0, version_token=new_version_token(),
                pdq_threshold=(
                    matcher.options.pdq_threshold if pdq_threshold is None else pdq_threshold
                ),
                flood_share=flood_share, entry_count=0, quarantined_count=0,
            )  # fmt: skip
            session.add(hash_list)
            session.flush()
        added, removed, recategorised = _apply_entries(session, hash_list.id, parsed)
        wanted: dict[str, Setting | None] = {
            "kind": kind, "pdq_threshold": pdq_threshold, "flood_share": flood_share,
        }  # fmt: skip
        settings_changed: dict[str, tuple[Setting, Setting]] = {
            key: (getattr(hash_list, key), value)
            for key, value in wanted.items()
            if value is not None and value != getattr(hash_list, key)
        }
        for key, (_, value) in settings_changed.items():
            setattr(hash_list, key, value)
        changed = bool(added or removed or recategorised) or hash_list.version == 0
        if changed or settings_changed:
            hash_list.version += 1
            hash_list.version_token = new_version_token()
            lists_changed(session)
        hash_list.format, hash_list.format_version = parsed.format, parsed.format_version
        hash_list.source_file, hash_list.imported_at = source_file[:256], now
        rejected = [replace(r, location=in_list(r.location, source_file)) for r in parsed.rejected]
        quarantined = record_rejections(
            session, sealer, rejected, source=list_source(name), format=parsed.format,
            source_file=source_file, hash_list_id=hash_list.id,
        )  # fmt: skip
        _resolve_fixed(session, sealer, hash_list.id, rejected, now)
        hash_list.entry_count = (
            session.scalar(select(func.count()).where(HashListEntry.list_id == hash_list.id)) or 0
        )
        hash_list.quarantined_count = (
            session.scalar(
                select(func.count()).where(
                    QuarantineRecord.hash_list_id == hash_list.id,
                    QuarantineRecord.status == "open",
                )
            )
            or 0
        )
        session.flush()
        matches = session.scalar(select(func.count()).where(HashMatch.list_id == hash_list.id)) or 0
        if changed or settings_changed:
            _index_list(session, matcher, hash_list)
            matches = matcher.rematch_list(session, hash_list.id)
        summary = ImportSummary(
            name, hash_list.id, hash_list.version, changed or bool(settings_changed), added,
            removed, recategorised, hash_list.entry_count, quarantined,
            hash_list.quarantined_count, matches, settings_changed,
        )  # fmt: skip
        detail = {"file": source_file, "kind": hash_list.kind, "version": str(summary.version),
                  "entries": str(summary.entries), "quarantined": str(quarantined)}  # fmt: skip
        detail |= {key: f"{old} -> {new}" for key, (old, new) in settings_changed.items()}
        audit.record(session, actor, "hashlist.import", "hashlist", name, detail)
    matcher_sync(store, matcher)
    return summary


def in_list(location: str, source_file: str) -> str:
    """Where a refused entry is in its list, whatever the file was called: ``line 3`` for a line
    of ``list.csv:3``, ``value[2]`` for an entry of ``list.json:value[2]``. A list's quarantine
    records are keyed by it (with the list and the raw input): keyed by the file's name, the
    same file uploaded again as ``list (1).csv`` quarantined its bad lines anew and resolved
    the earlier records, back and forth. The record keeps the file's name (``source_file``)."""
    within = location.removeprefix(f"{source_file}:")
    return f"line {within}" if within.isascii() and within.isdigit() else within


def _resolve_fixed(
    session: Session, sealer: Sealer, list_id: int, rejected: list[Rejected], now: datetime
) -> None:
    """Open quarantine records of this list that the new file no longer produces are resolved
    (``intake_context``, which made ``sealer``, has keyed any plain digest of earlier versions)."""
    current = {(r.location[:512], raw_digest(sealer, r.raw)) for r in rejected}
    for record in session.scalars(
        select(QuarantineRecord).where(
            QuarantineRecord.hash_list_id == list_id, QuarantineRecord.status == "open"
        )
    ):
        if (record.location, record.raw_digest) not in current:
            record.status, record.resolved_at = "resolved", now


def matcher_sync(store: Store, matcher: Matcher) -> None:
    with store.session() as session:
        matcher.sync(session)


def _index_list(session: Session, matcher: Matcher, hash_list: HashList) -> None:
    rows = session.execute(
        select(HashListEntry.id, HashListEntry.value).where(
            HashListEntry.list_id == hash_list.id, HashListEntry.kind == "pdq"
        )
    ).all()
    matcher.index.add_segment(
        segment_name(hash_list),
        np.array([r[0] for r in rows], dtype=np.int64),
        hex_to_words([r[1] for r in rows]),
    )
    matcher.sync(session)


def _apply_entries(session: Session, list_id: int, parsed: ParsedList) -> tuple[int, int, int]:
    wanted = {(e.kind, e.value): e for e in parsed.entries}
    stored = {
        (kind, value): (entry_id, category, source_category)
        for entry_id, kind, value, category, source_category in session.execute(
            select(
                HashListEntry.id, HashListEntry.kind, HashListEntry.value,
                HashListEntry.category, HashListEntry.source_category,
            ).where(HashListEntry.list_id == list_id)
        )
    }  # fmt: skip
    gone = [stored[key][0] for key in stored.keys() - wanted.keys()]
    for begin in range(0, len(gone), 1000):
        session.execute(
            delete(HashListEntry).where(HashListEntry.id.in_(gone[begin : begin + 1000]))
        )
    new_rows: list[dict[str, Any]] = [
        {
            "list_id": list_id, "kind": e.kind, "value": e.value, "category": e.category,
            "source_category": e.source_category, "source_scheme": e.source_scheme,
            "source_media_id": e.source_media_id,
        }
        for key, e in wanted.items()
        if key not in stored
    ]  # fmt: skip
    for begin in range(0, len(new_rows), 5000):
        insert_rows(session, HashListEntry, new_rows[begin : begin + 5000])
    recategorised = 0
    for key, entry in wanted.items():
        found = stored.get(key)
        if found and (found[1], found[2]) != (entry.category, entry.source_category):
            session.execute(
                update(HashListEntry)
                .where(HashListEntry.id == found[0])
                .values(category=entry.category, source_category=entry.source_category,
                        source_scheme=entry.source_scheme)
            )  # fmt: skip
            recategorised += 1
    return len(new_rows), len(gone), recategorised


def remove_list(store: Store, matcher: Matcher, name: str, actor: Actor) -> int:
    """Delete a list with its entries, matches, flood flags and quarantined entries; audited
    as ``actor``'s, in the transaction of the change."""
    with store.session() as session:
        lock_lists(session)
        hash_list = session.scalar(select(HashList).where(HashList.name == name))
        if hash_list is None:
            raise NotFoundError(f"no hash list named {name!r}; see: safeguarding hashlist list")
        list_id, count = hash_list.id, hash_list.entry_count
        for model in (HashMatch, FloodFlag):
            session.execute(delete(model).where(model.list_id == list_id))
        session.execute(delete(QuarantineRecord).where(QuarantineRecord.hash_list_id == list_id))
        session.execute(delete(HashListEntry).where(HashListEntry.list_id == list_id))
        session.execute(delete(HashList).where(HashList.id == list_id))
        lists_changed(session)
        audit.record(session, actor, "hashlist.remove", "hashlist", name, {"entries": str(count)})
    matcher_sync(store, matcher)
    return count


def list_summaries(session: Session) -> list[dict[str, Any]]:
    lists = list(session.scalars(select(HashList).order_by(HashList.name)))
    matches = dict(
        session.execute(select(HashMatch.list_id, func.count()).group_by(HashMatch.list_id)).all()
    )
    flags = dict(
        session.execute(
            select(FloodFlag.list_id, func.count())
            .where(FloodFlag.status == "open")
            .group_by(FloodFlag.list_id)
        ).all()
    )
    return [
        {
            "id": h.id, "name": h.name, "kind": h.kind, "format": h.format,
            "format_version": h.format_version,
            "version": h.version, "entries": h.entry_count, "quarantined": h.quarantined_count,
            "pdq_threshold": h.pdq_threshold, "matches": matches.get(h.id, 0),
            "flood_flags": flags.get(h.id, 0), "imported_at": h.imported_at,
        }
        for h in lists
    ]  # fmt: skip


def flood_flags(
    session: Session, options: TriageOptions, *, list_id: int | None = None
) -> dict[str, Any]:
    """The flood flags (of one list, or all), open ones first, then newest first: each with its
    list, entry (id, hash kind and value, category), the counts it was raised with, when, its
    status and review, and ``now``: how many files of the current window the entry matches and
    whether that is still more than its list's share (``over``; None while the window holds
    fewer than ``flood_min_files``, when the guard does not judge). A flag is a question for a
    person, so nothing closes it when the share falls: ``now`` is what the reviewer weighs.
    At most ``FLAGS_SHOWN``, with ``total``."""
    query = (
        select(FloodFlag, HashList.name, HashList.flood_share, HashListEntry.kind,
               HashListEntry.value, HashListEntry.category)
        .join(HashList, HashList.id == FloodFlag.list_id)
        .join(HashListEntry, HashListEntry.id == FloodFlag.entry_id)
    )  # fmt: skip
    count = select(func.count()).select_from(FloodFlag)
    if list_id is not None:
        query = query.where(FloodFlag.list_id == list_id)
        count = count.where(FloodFlag.list_id == list_id)
    rows = session.execute(
        query.order_by((FloodFlag.status == "open").desc(), FloodFlag.id.desc()).limit(FLAGS_SHOWN)
    ).all()
    first, checked = flood_window(session, options.flood_window)
    judged = checked >= options.flood_min_files
    now = window_matches(session, first, [row[0].entry_id for row in rows])
    flags = []
    for flag, list_name, share, kind, value, category in rows:
        matched = now.get(flag.entry_id, 0)
        current = matched / checked if checked else 0.0
        flags.append(
            {
                "id": flag.id, "list": list_name, "entry": flag.entry_id, "hash_kind": kind,
                "value": value, "category": category, "matched_files": flag.matched_files,
                "checked_files": flag.checked_files, "share": round(flag.share, 4),
                "flagged_at": flag.flagged_at, "status": flag.status,
                "reviewed_at": flag.reviewed_at, "reviewed_by": flag.reviewed_by,
                "now": {
                    "matched_files": matched, "checked_files": checked,
                    "share": round(current, 4), "over": current > share if judged else None,
                },
            }
        )  # fmt: skip
    return {"total": session.scalar(count) or 0, "flags": flags}


def review_flood_flag(store: Store, flag_id: int, status: str, actor: Actor) -> dict[str, Any]:
    """Close an open flood flag as ``dismissed`` (the entry is right: the content is that common)
    or ``resolved`` (the entry was wrong and the list has been put right); audited as
    ``actor``'s in the transaction of the change. A closed flag stays closed: the entry is not
    flagged again, so a review is final, and reviewing it again is refused."""
    if status not in FLAG_REVIEWS:
        raise ValidationError(
            f"status: {' or '.join(FLAG_REVIEWS)}", location="status", rule="unknown_enum"
        )
    with store.session() as session:
        found = session.execute(
            select(FloodFlag, HashList.name)
            .join(HashList, HashList.id == FloodFlag.list_id)
            .where(FloodFlag.id == flag_id)
        ).one_or_none()
        if found is None:
            raise NotFoundError(f"no flood flag {flag_id}; see: safeguarding hashlist show NAME")
        flag, list_name = found
        if flag.status != "open":
            # A flag closed before reviews were recorded (triage_0006) has no reviewer to name.
            by = (
                f"by {flag.reviewed_by} at {flag.reviewed_at}"
                if flag.reviewed_by is not None
                else "(reviewer not recorded)"
            )
            raise ValidationError(
                f"flood flag {flag_id} was {flag.status} {by}; a review is final",
                location="status",
                rule="already_reviewed",
            )
        flag.status, flag.reviewed_at = status, datetime.now(UTC)
        flag.reviewed_by = actor.name[:120]
        detail = {"list": list_name, "entry": str(flag.entry_id), "status": status}
        audit.record(session, actor, "floodflag.review", "flood_flag", str(flag_id), detail)
        return {"id": flag_id, "list": list_name, "entry": flag.entry_id, "status": status,
                "reviewed_at": flag.reviewed_at, "reviewed_by": flag.reviewed_by}  # fmt: skip


def list_detail(session: Session, name: str) -> dict[str, Any]:
    found = [s for s in list_summaries(session) if s["name"] == name]
    if not found:
        raise NotFoundError(f"no hash list named {name!r}; see: safeguarding hashlist list")
    list_id = found[0]["id"]
    by_kind = dict(
        session.execute(
            select(HashListEntry.kind, func.count())
            .where(HashListEntry.list_id == list_id)
            .group_by(HashListEntry.kind)
        ).all()
    )
    by_category = dict(
        session.execute(
            select(HashListEntry.category, func.count())
            .where(HashListEntry.list_id == list_id)
            .group_by(HashListEntry.category)
        ).all()
    )
    schemes = sorted(
        session.scalars(
            select(HashListEntry.source_scheme).where(HashListEntry.list_id == list_id).distinct()
        )
    )
    return {**found[0], "by_kind": by_kind, "by_category": by_category, "source_schemes": schemes}
