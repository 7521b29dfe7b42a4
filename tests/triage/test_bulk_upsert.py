"""Upserts through the driver store what the ORM would, and replace rows with the same key."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from safeguarding.store import Store
from safeguarding.store.models import ContentCluster
from safeguarding.triage import bulk

COLUMNS = (
    "id", "files", "reports", "first_seen", "last_seen", "providers", "known_files",
    "allow_files", "meme_files", "batched_files", "large", "annotated", "batched", "viral",
)  # fmt: skip


def _row(cluster: int, files: int, providers: Any, seen: Any) -> tuple[Any, ...]:
    return (cluster, files, 1, seen, seen, providers, 0, 0, 0, 0, False, False, False, files > 2)


def _stored(store: Store) -> list[tuple[Any, ...]]:
    with store.session() as session:
        return [
            (c.id, c.files, c.providers, c.first_seen.replace(tzinfo=None), c.viral)
            for c in session.scalars(select(ContentCluster).order_by(ContentCluster.id))
        ]


def test_upsert_inserts_then_replaces_by_key(store: Store) -> None:
    first = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    later = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    with store.session() as session:
        rows = [_row(1, 1, ["A"], first), _row(2, 2, ["B", "C"], first)]
        bulk.upsert_values(session, ContentCluster, COLUMNS, rows, key=("id",))
    assert _stored(store) == [
        (1, 1, ["A"], first.replace(tzinfo=None), False),
        (2, 2, ["B", "C"], first.replace(tzinfo=None), False),
    ]
    with store.session() as session:
        # Pre-bound: JSON as text and one timestamp bound once, as a run writes decisions.
        seen = bulk.bound_value(session, ContentCluster, "first_seen", later)
        rows = [_row(2, 5, json.dumps(["D"]), seen), _row(3, 1, json.dumps([]), seen)]
        bulk.upsert_values(
            session, ContentCluster, COLUMNS, rows, key=("id",),
            bound_columns=frozenset({"providers", "first_seen", "last_seen"}),
        )  # fmt: skip
    assert _stored(store) == [
        (1, 1, ["A"], first.replace(tzinfo=None), False),
        (2, 5, ["D"], later.replace(tzinfo=None), True),
        (3, 1, [], later.replace(tzinfo=None), False),
    ]


def test_epochs_bound_as_a_column_equal_the_processors_values_and_read_back(store: Store) -> None:
    epochs = [0, 1, 1_764_000_000, 1_764_000_001, 2_000_000_000, -86_400]
    stamps = [datetime.fromtimestamp(e, tz=UTC) for e in epochs]
    with store.session() as session:
        bound = bulk.bound_epochs(session, ContentCluster, "first_seen", epochs)
        one_by_one = [bulk.bound_value(session, ContentCluster, "first_seen", s) for s in stamps]
        assert bound == one_by_one
        rows = [_row(i, 1, ["A"], value) for i, value in enumerate(bound, start=1)]
        bulk.upsert_values(
            session, ContentCluster, COLUMNS, rows, key=("id",),
            bound_columns=frozenset({"first_seen", "last_seen"}),
        )  # fmt: skip
    assert [row[3] for row in _stored(store)] == [s.replace(tzinfo=None) for s in stamps]
