"""Matching reported files against hash lists: exact for MD5/SHA-1/SHA-256, PDQ by distance.

Exact kinds are looked up by value in the lists' ``(kind, value)`` index. PDQ goes through the
project's own index (``hashing.pdq_index``): one segment per list version, searched with that
list's threshold, and only for file hashes of known quality >= the minimum (a provider's hash
without a stated quality is matched: the provider computed it from the media). PhotoDNA is
stored, never matched.

``Matcher.sync`` keeps the index in step with the lists in the store: a new or changed list gets
its segment built (or opened, if another process sharing the index built it), a removed list loses
its segment; other lists are untouched. It runs whenever a matcher is opened, so an index left
behind by a crash heals itself. A segment is named by its list's id, version and version token
(``segment_name``): ids come back after a list is removed and versions repeat in a restored copy
of the database, but a token is drawn afresh for every version, so no segment is ever taken for
another list's or another version's.

Lists change while files come in: ``Matcher.refresh``, called in each batch's transaction before
matching, reads the lists' state token (``HashListState``, one row) and synchronises again if a
list changed since. List changes take the row with ``lock_lists`` and renew it with
``lists_changed`` in their own transaction.

Flood guard: whenever matches are stored, an entry that matched more than its list's
``flood_share`` of the last ``flood_window`` files stored (of every run, submission and import:
all of them while fewer are stored, once there are at least ``flood_min_files``) is flagged for
review; its matches are kept. Judged over that sliding window rather than over the files of one
pass, it sees an entry that suddenly matches much of what comes in however it comes: in small
daily runs or in web submissions one at a time. An entry is flagged once: two transactions
raising its flag at the same time leave one, and both keep their matches.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, distinct, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from safeguarding.errors import StoreError
from safeguarding.hashing.kinds import EXACT_KINDS
from safeguarding.hashing.pdq_bits import hex_to_words
from safeguarding.hashing.pdq_index import PDQIndex
from safeguarding.store.models import (
    FileHash,
    FloodFlag,
    HashList,
    HashListEntry,
    HashListState,
    HashMatch,
    ReportedFile,
)
from safeguarding.triage.bulk import fetch_in, insert_rows
from safeguarding.triage.options import TriageOptions

_CHUNK = 2_000  # files per index query: the PDQ search costs a fixed overhead per call
# PDQ hits by hash value (lower-case hex, as stored): (list id, entry id, distance) each.
PDQHits = dict[str, list[tuple[int, int, int]]]
# A stored file's hash as inserted: (file id, kind, value, quality, ...) (``file_hash`` columns).
StoredHash = tuple[Any, ...]


@dataclass(frozen=True)
class FoundMatch:
    file_id: int
    list_id: int
    entry_id: int
    hash_kind: str
    distance: int


def segment_name(hash_list: HashList) -> str:
    """The name of the index segment of the list's current version."""
    return f"list-{hash_list.id}-v{hash_list.version}-{hash_list.version_token}"


def new_version_token() -> str:
    """A token for a new list version (``HashList.version_token``): 64 random bits."""
    return secrets.token_hex(8)


def lists_token(session: Session, *, for_update: bool = False) -> str:
    """The lists' state token, read with a share lock (or, ``for_update``, an exclusive one)
    held to the end of the transaction (PostgreSQL: SQLite has no row locks and lets one writer
    at a time)."""
    query = select(HashListState.token).where(HashListState.id == 1)
    token = session.scalar(query.with_for_update(read=not for_update))
    if token is None:
        raise StoreError("hash_list_state has no row: run 'safeguarding db upgrade'")
    return token


def lock_lists(session: Session) -> None:
    """Takes the lists for a change, first thing in its transaction: batches matching under the
    lists as they are commit first (so the change's retroactive matching sees their files), and
    later batches wait for the change to commit."""
    lists_token(session, for_update=True)


def lists_changed(session: Session) -> None:
    """Records, in the transaction of a change to a list, that the lists changed: every matcher
    synchronises again before it next matches (``Matcher.refresh``)."""
    session.execute(
        update(HashListState).where(HashListState.id == 1).values(token=new_version_token())
    )


def _exact_matches(
    session: Session, hashes: Sequence[StoredHash], list_ids: Sequence[int] | None
) -> list[FoundMatch]:
    """Exact matches of stored file hashes (rows of file id, kind, value), each value looked up
    in the lists' ``(kind, value)`` index (of all lists, or of ``list_ids``). Two plain lookups
    rather than one join: nothing indexes the stored hashes by value (``triage_0003``), and a
    join would leave SQLite free to scan a whole list for each batch of files."""
    wanted = None if list_ids is None else set(list_ids)
    by_kind: dict[str, list[StoredHash]] = {}
    for row in hashes:  # one pass: a batch holds hundreds of thousands
        by_kind.setdefault(row[1], []).append(row)
    found: list[FoundMatch] = []
    for kind in EXACT_KINDS:
        rows = by_kind.get(kind)
        if not rows:
            continue
        values = sorted({row[2] for row in rows})
        entries: dict[str, list[tuple[int, int]]] = {}
        for value, list_id, entry_id in fetch_in(
            session,
            "SELECT value, list_id, id FROM hash_list_entry WHERE kind = ? AND value IN ({keys})",
            values,
            (kind,),
        ):
            if wanted is None or list_id in wanted:
                entries.setdefault(value, []).append((list_id, entry_id))
        found += [
            FoundMatch(row[0], list_id, entry_id, kind, 0)
            for row in rows
            for list_id, entry_id in entries.get(row[2], ())
        ]
    return found


class Matcher:
    """Matches files against every list; owns the PDQ index of one store."""

    def __init__(self, index: PDQIndex, options: TriageOptions) -> None:
        self.index = index
        self.options = options
        self._lists: dict[int, HashList] = {}
        self._token: str | None = None  # the lists' state token at the last ``sync``

    def refresh(self, session: Session) -> None:
        """Synchronises if a list changed since the last ``sync`` (one row read otherwise).
        Called in the transaction that then matches and stores the matches."""
        if lists_token(session) != self._token:
            self.sync(session)

    @property
    def signature(self) -> frozenset[tuple[str, int]]:
        """What PDQ searches are made against: each searched segment with its radius. Hits
        searched under one signature hold under any equal one."""
        return frozenset(self._radii().items())

    def sync(self, session: Session) -> list[str]:
        """Bring the index in step with the lists; returns the segments built."""
        self._token = lists_token(session)
        lists = {row.id: row for row in session.scalars(select(HashList))}
        self._lists = lists
        wanted = {segment_name(row): row.id for row in lists.values()}
        for name in self.index.segment_names:
            if name not in wanted:
                self.index.remove_segment(name)
        built = []
        for name, list_id in wanted.items():
            if name in self.index.segment_names or self.index.load_segment(name):
                continue
            rows = session.execute(
                select(HashListEntry.id, HashListEntry.value).where(
                    HashListEntry.list_id == list_id, HashListEntry.kind == "pdq"
                )
            ).all()
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            self.index.add_segment(name, ids, hex_to_words([r[1] for r in rows]))
            built.append(name)
        return built

    def _radii(self, list_ids: Sequence[int] | None = None) -> dict[str, int]:
        """The search radius of each list's segment (lists without PDQ entries are left out)."""
        present = set(self.index.segment_names)
        radii = {
            segment_name(row): row.pdq_threshold
            for row in self._lists.values()
            if list_ids is None or row.id in list_ids
        }
        return {
            name: radius
            for name, radius in radii.items()
            if name in present and self.index.segment(name).live
        }

    def find(
        self,
        session: Session,
        file_ids: Sequence[int],
        list_ids: Sequence[int] | None = None,
        *,
        pdq_hits: Mapping[str, list[tuple[int, int, int]]] | None = None,
    ) -> list[FoundMatch]:
        """Matches of the given files against all lists (or the given ones). ``pdq_hits``
        (from ``search_pdq`` against all lists, by the same index) saves searching again."""
        found: list[FoundMatch] = []
        known = pdq_hits if list_ids is None else None
        for begin in range(0, len(file_ids), _CHUNK):
            chunk = list(file_ids[begin : begin + _CHUNK])
            found += self._exact(session, chunk, list_ids)
            found += self._pdq(session, chunk, list_ids, known or {})
        return found

    def find_hashes(
        self,
        session: Session,
        hashes: Sequence[StoredHash],
        *,
        pdq_hits: Mapping[str, list[tuple[int, int, int]]] | None = None,
    ) -> list[FoundMatch]:
        """Matches against all lists of file hashes just stored, given as their rows (what
        ``find`` would read back from ``file_hash``): exact kinds looked up by value in the
        lists' ``(kind, value)`` index, PDQ from ``pdq_hits`` or searched."""
        found = _exact_matches(session, hashes, None)
        if not self._radii():
            return found
        minimum = self.options.pdq_min_quality
        pdq = [
            (row[0], row[2])
            for row in hashes
            if row[1] == "pdq" and (row[3] is None or row[3] >= minimum)
        ]
        # The given hits may be a whole run's: looked up, never copied.
        given = pdq_hits or {}
        missing = [value for _, value in pdq if value not in given]
        searched = self.search_pdq(missing) if missing else {}
        return found + [
            FoundMatch(file_id, list_id, entry_id, "pdq", distance)
            for file_id, value in pdq
            for list_id, entry_id, distance in (given[value] if value in given else searched[value])
        ]

    def search_pdq(
        self,
        values: Sequence[str],
        *,
        list_ids: Sequence[int] | None = None,
        threads: int | None = None,
    ) -> PDQHits:
        """Every entry of every list (or the given ones) within the list's radius of each PDQ
        hash (each distinct value searched once)."""
        distinct = list(dict.fromkeys(values))
        found: PDQHits = {value: [] for value in distinct}
        radii = self._radii(list_ids)
        if not radii or not distinct:
            return found
        hits = self.index.search(hex_to_words(distinct), radii, threads=threads)
        list_of = {segment_name(row): row.id for row in self._lists.values()}
        for q, s, e, d in zip(
            hits.query.tolist(), hits.segment, hits.ids.tolist(), hits.distance.tolist(),
            strict=True,
        ):  # fmt: skip
            found[distinct[q]].append((list_of[s], e, d))
        return found

    def load_search(self) -> None:
        """Loads the compiled search code now (about 0.8 s: numba's cache and the libraries it
        imports) by searching one hash: a process about to fork parse workers does it once,
        and the workers inherit it instead of each loading it again."""
        self.search_pdq(["0" * 64], threads=1)

    def _exact(
        self, session: Session, file_ids: list[int], list_ids: Sequence[int] | None
    ) -> list[FoundMatch]:
        """The exact matches of the files: their hashes read by file id (those of other kinds
        are passed over), then looked up."""
        hashes = fetch_in(
            session,
            "SELECT file_id, kind, value FROM file_hash WHERE file_id IN ({keys})",
            file_ids,
        )
        return _exact_matches(session, hashes, list_ids)

    def _pdq(
        self,
        session: Session,
        file_ids: list[int],
        list_ids: Sequence[int] | None,
        known: Mapping[str, list[tuple[int, int, int]]],
    ) -> list[FoundMatch]:
        radii = self._radii(list_ids)
        if not radii:
            return []
        rows = session.execute(
            select(FileHash.file_id, FileHash.value).where(
                FileHash.file_id.in_(file_ids),
                FileHash.kind == "pdq",
                or_(FileHash.quality.is_(None), FileHash.quality >= self.options.pdq_min_quality),
            )
        ).all()
        if not rows:
            return []
        hits = dict(known)
        missing = [value for _, value in rows if value not in hits]
        if missing:
            hits.update(self.search_pdq(missing, list_ids=list_ids))
        return [
            FoundMatch(file_id, list_id, entry_id, "pdq", distance)
            for file_id, value in rows
            for list_id, entry_id, distance in hits[value]
        ]

    def store(self, session: Session, found: Sequence[FoundMatch]) -> int:
        """Insert matches (one per file, entry and kind) and apply the flood guard."""
        now = datetime.now(UTC)
        unique = {(m.file_id, m.entry_id, m.hash_kind): m for m in found}
        if not unique:
            return 0
        insert_rows(
            session,
            HashMatch,
            [
                {
                    "file_id": m.file_id,
                    "list_id": m.list_id,
                    "entry_id": m.entry_id,
                    "hash_kind": m.hash_kind,
                    "distance": m.distance,
                    "matched_at": now,
                }
                for m in unique.values()
            ],
        )
        self._flood_guard(session, now)
        return len(unique)

    def _flood_guard(self, session: Session, now: datetime) -> None:
        """Flags every entry, not flagged yet, that matched more than its list's share of the
        recent files (the module's docstring). Only an entry that just matched can have passed
        its share (the window holds a fixed number of files), so it runs where matches are
        stored. Two reads bounded by the window, whatever the size of the store: the id of the
        window's first file (by the primary key) and the matches of its files (by the leading
        column of ``hash_match``'s unique constraint), counted per entry."""
        first, checked = flood_window(session, self.options.flood_window)
        if checked < self.options.flood_min_files:
            return
        shares = {row.id: row.flood_share for row in self._lists.values()}
        least = min(shares.values(), default=self.options.flood_share)
        files = func.count(distinct(HashMatch.file_id))
        counts = dict(
            session.execute(
                select(HashMatch.entry_id, files)
                .where(HashMatch.file_id >= first)
                .group_by(HashMatch.entry_id)
                .having(files > least * checked)
            ).all()
        )
        if not counts:
            return
        flagged = set(
            session.scalars(select(FloodFlag.entry_id).where(FloodFlag.entry_id.in_(list(counts))))
        )
        lists = dict(
            session.execute(
                select(HashListEntry.id, HashListEntry.list_id).where(
                    HashListEntry.id.in_(counts.keys() - flagged)
                )
            ).all()
        )
        flags: list[dict[str, Any]] = []
        for entry_id, list_id in lists.items():
            share = counts[entry_id] / checked
            if share <= shares.get(list_id, self.options.flood_share):
                continue
            flags.append(
                {
                    "entry_id": entry_id,
                    "list_id": list_id,
                    "matched_files": counts[entry_id],
                    "checked_files": checked,
                    "share": share,
                    "flagged_at": now,
                    "status": "open",
                }
            )
        if flags:
            _insert_new_flags(session, flags)

    def rematch_list(self, session: Session, list_id: int) -> int:
        """Retroactive matching: every stored file against one (new or changed) list."""
        session.execute(delete(HashMatch).where(HashMatch.list_id == list_id))
        file_ids = list(session.scalars(select(FileHash.file_id).distinct()))
        return self.store(session, self.find(session, file_ids, [list_id]))


def flood_window(session: Session, window: int) -> tuple[int, int]:
    """The flood guard's window: the id of its first file (files are stored in id order) and
    how many files it holds, the last ``window`` stored (all of them while fewer are)."""
    first = session.scalar(
        select(ReportedFile.id).order_by(ReportedFile.id.desc()).offset(window - 1).limit(1)
    )
    if first is None:
        return 0, session.scalar(select(func.count()).select_from(ReportedFile)) or 0
    return first, window


def window_matches(session: Session, first: int, entry_ids: Collection[int]) -> dict[int, int]:
    """How many files of the window (from file id ``first``) each entry matches."""
    if not entry_ids:
        return {}
    return dict(
        session.execute(
            select(HashMatch.entry_id, func.count(distinct(HashMatch.file_id)))
            .where(HashMatch.file_id >= first, HashMatch.entry_id.in_(list(entry_ids)))
            .group_by(HashMatch.entry_id)
        ).all()
    )


def _insert_new_flags(session: Session, flags: list[dict[str, Any]]) -> None:
    """Inserts ``flags``, leaving out any entry flagged already. The guard reads the flags
    first, but another transaction (an ingest in another process, the web app's submissions)
    can flag the same entry after that read: on PostgreSQL its uncommitted flag holds this
    insert until it commits, and a plain insert would then break the flag's unique key and roll
    back this transaction's batch with it. The flag already there is left as it is, as one the
    read found would be."""
    insert = (
        postgresql.insert(FloodFlag)
        if session.get_bind().dialect.name == "postgresql"
        else sqlite.insert(FloodFlag)
    )
    session.execute(
        insert.values(flags).on_conflict_do_nothing(index_elements=[FloodFlag.entry_id])
    )
