"""The input cache's storage and the summary diff written after a run."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from sqlalchemy import select

from safeguarding.store import Store
from safeguarding.store.models import TriageInputCache
from safeguarding.triage import input_cache
from safeguarding.triage.input_cache import CacheUnusableError, read_cache, write_cache
from safeguarding.triage.store_io import changed_rows


def _parts(store: Store) -> dict[str, int]:
    with store.session() as session:
        names = session.scalars(select(TriageInputCache.name)).all()
    return {name: names.count(name) for name in set(names)}


def test_columns_that_grow_are_appended_and_the_rest_rewritten(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.session() as session, pytest.raises(CacheUnusableError, match="no input cache"):
        read_cache(session)
    frame = pl.DataFrame({"cluster": [1, 2], "providers": [[0], [0, 1]]})
    first = {"ids": np.arange(5), "words": np.ones((5, 4), np.uint64), "level": np.ones(5, np.int8)}
    with store.session() as session:
        write_cache(session, first, {"content": frame}, {"run": 1}, None)
    with store.session() as session:
        stored = read_cache(session)
    # Nothing changed: only the meta data is written again.
    with store.session() as session:
        assert write_cache(session, first, {"content": frame}, {"run": 1}, stored) == {
            "appended": 0, "rewritten": 0,
        }  # fmt: skip
    with store.session() as session:
        stored = read_cache(session)
    assert_frame_equal(stored.frames["content"], frame)
    grown = {
        "ids": np.arange(8),
        "words": np.ones((8, 4), np.uint64),
        "level": np.r_[np.full(5, 2, np.int8), np.ones(3, np.int8)],  # earlier rows changed
    }
    with store.session() as session:
        written = write_cache(session, grown, {"content": frame}, {"run": 2}, stored)
    assert written["appended"] > 0 and written["rewritten"] > 0
    assert _parts(store) == {"ids": 2, "words": 2, "level": 1, "frame.content": 1, "meta": 1}
    with store.session() as session:
        again = read_cache(session)
    assert again.meta["run"] == 2
    for name, array in grown.items():
        assert np.array_equal(again.arrays[name], array) and again.arrays[name].dtype == array.dtype
    assert_frame_equal(again.frames["content"], frame)

    # After MAX_PARTS parts a growing column is written again as one.
    monkeypatch.setattr(input_cache, "MAX_PARTS", 2)
    more = grown | {"ids": np.arange(9)}
    with store.session() as session:
        write_cache(session, more, {"content": frame}, {"run": 3}, again)
    assert _parts(store)["ids"] == 1
    with store.session() as session:
        assert np.array_equal(read_cache(session).arrays["ids"], np.arange(9))


def test_columns_with_few_changed_values_get_patches_read_back_exactly(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(4)
    n = 400
    current = {
        "score": rng.random(n),  # float: compared bit for bit
        "level": rng.integers(1, 5, n).astype(np.int8),
        "words": np.ones((n, 4), np.uint64),  # not one value per row: never patched
    }
    with store.session() as session:
        write_cache(session, current, {}, {"run": 1}, None)
    for run in range(2, 8):
        with store.session() as session:
            stored = read_cache(session)
        for name, array in current.items():
            assert np.array_equal(stored.arrays[name], array) and stored.arrays[name].dtype == (
                array.dtype
            )
        grown = n + 10 * run
        score = np.r_[stored.arrays["score"], rng.random(grown - len(stored.arrays["score"]))]
        level = np.r_[stored.arrays["level"], np.ones(grown - len(score) + 10 * run, np.int8)]
        level = level[:grown]
        changed = rng.choice(len(stored.arrays["level"]), size=7, replace=False)
        score[changed] = -score[changed]
        level[changed[:3]] = 9  # some positions again in later runs: the last value wins
        level[:2] = run
        current = {"score": score, "level": level, "words": np.ones((grown, 4), np.uint64)}
        with store.session() as session:
            written = write_cache(session, current, {}, {"run": run}, stored)
        # Seven changed values and ten new rows per column: appended, nothing rewritten.
        assert written["rewritten"] == 0 and written["appended"] > 0
    parts = _parts(store)
    assert (
        parts["patch_at.score"] == parts["patch_value.level"] == 6 and "patch_at.words" not in parts
    )
    with store.session() as session:
        final = read_cache(session)
    for name, array in current.items():
        assert np.array_equal(final.arrays[name], array)
    assert not any(name.startswith("patch_") for name in final.arrays)

    # Once the patches hold more than MAX_PATCHED of a column's values it is rewritten whole.
    monkeypatch.setattr(input_cache, "MAX_PATCHED", 0.01)
    score = final.arrays["score"].copy()
    score[:10] += 1
    with store.session() as session:
        written = write_cache(session, current | {"score": score}, {}, {"run": 8}, final)
    assert written["rewritten"] > 0
    parts = _parts(store)
    assert parts["score"] == 1 and "patch_at.score" not in parts and "patch_at.level" in parts
    with store.session() as session:
        assert np.array_equal(read_cache(session).arrays["score"], score)

    # A patch that points outside its column makes the cache unusable, not a wrong column.
    monkeypatch.undo()
    with store.session() as session:
        stored = read_cache(session)
        level = stored.arrays["level"].copy()
        level[0] += 1
        write_cache(session, current | {"score": score, "level": level}, {}, {"run": 9}, stored)
    with store.session() as session:
        row = session.scalars(
            select(TriageInputCache)
            .where(TriageInputCache.name == "patch_at.level")
            .order_by(TriageInputCache.part.desc())
            .limit(1)
        ).one()
        row.data = input_cache._array_bytes(np.array([10**6], dtype=np.int64))
    with (
        store.session() as session,
        pytest.raises(CacheUnusableError, match="a patch does not fit"),
    ):
        read_cache(session)


ROWS = st.dictionaries(
    st.integers(0, 30),
    st.tuples(st.integers(0, 3), st.lists(st.integers(0, 3), max_size=3)),
    max_size=20,
)


def _frame(rows: dict[int, tuple[int, list[int]]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "cluster": list(rows),
            "files": [v[0] for v in rows.values()],
            "providers": [v[1] for v in rows.values()],
        },
        schema={"cluster": pl.Int64, "files": pl.Int64, "providers": pl.List(pl.Int64)},
    )


@settings(max_examples=80, deadline=None)
@given(before=ROWS, after=ROWS)
def test_the_summary_diff_turns_the_stored_rows_into_the_new_ones(
    before: dict[int, tuple[int, list[int]]], after: dict[int, tuple[int, list[int]]]
) -> None:
    gone, fresh = changed_rows(_frame(before), _frame(after), "cluster")
    assert not set(gone) & set(after)  # only rows gone are deleted; the rest are replaced
    stored = {k: v for k, v in before.items() if k not in gone}
    unchanged = set(stored) - set(fresh["cluster"].to_list())
    assert all(stored[k] == after[k] for k in unchanged)
    for row in fresh.iter_rows(named=True):
        stored[row["cluster"]] = (row["files"], row["providers"])
    assert stored == after
    # Only what differs is touched.
    assert set(gone) | set(fresh["cluster"].to_list()) == {
        k for k in set(before) | set(after) if before.get(k) != after.get(k)
    }


def test_a_column_read_with_room_grows_in_place_once_and_exactly(store: Store) -> None:
    first = {"ids": np.arange(5), "words": np.arange(20, dtype=np.uint64).reshape(5, 4)}
    with store.session() as session:
        write_cache(session, first, {}, {"run": 1}, None)
    with store.session() as session:
        stored = read_cache(session)
    more = {"ids": np.arange(9), "words": np.arange(36, dtype=np.uint64).reshape(9, 4)}
    with store.session() as session:
        write_cache(session, more, {}, {"run": 2}, stored)
    assert _parts(store)["ids"] == 2  # two parts, put together into one array with room
    with store.session() as session:
        meta = input_cache.read_meta(session)
        stored = read_cache(session, meta, {"ids": 3, "words": 2})
    assert not stored.arrays["ids"].flags.writeable
    grown = stored.grown("ids", np.array([9, 10, 11]))
    assert grown.tolist() == list(range(12)) and not grown.flags.writeable
    assert np.shares_memory(grown, stored.arrays["ids"])  # the stored rows were not copied
    assert stored.arrays["ids"].tolist() == list(range(9))  # the stored column is unchanged
    # A second growth of the same column cannot use the room again: it gets a new array.
    again = stored.grown("ids", np.array([-1]))
    assert again.tolist() == [*range(9), -1] and grown.tolist() == list(range(12))
    # More rows than the room: a new array, the same values.
    words = stored.grown("words", np.full((3, 4), 7, np.uint64))
    assert not np.shares_memory(words, stored.arrays["words"])
    assert np.array_equal(words, np.r_[more["words"], np.full((3, 4), 7, np.uint64)])


def test_a_cache_replaced_between_its_meta_data_and_its_columns_is_not_used(store: Store) -> None:
    with store.session() as session:
        write_cache(session, {"ids": np.arange(3)}, {}, {"run": 1}, None)
    with store.session() as session:
        meta = input_cache.read_meta(session)
    with store.session() as session:
        write_cache(session, {"ids": np.arange(3)}, {}, {"run": 2}, read_cache(session))
    with store.session() as session, pytest.raises(CacheUnusableError, match="replaced"):
        read_cache(session, meta)


def test_a_patch_before_the_start_of_its_column_makes_the_cache_unusable(store: Store) -> None:
    level = np.ones(10, np.int8)
    with store.session() as session:
        write_cache(session, {"level": level}, {}, {"run": 1}, None)
    with store.session() as session:
        stored = read_cache(session)
        write_cache(session, {"level": np.r_[2, level[1:]].astype(np.int8)}, {}, {"run": 2}, stored)
    with store.session() as session:
        row = session.scalars(
            select(TriageInputCache).where(TriageInputCache.name == "patch_at.level")
        ).one()
        row.data = input_cache._array_bytes(np.array([-1], dtype=np.int64))
    with (
        store.session() as session,
        pytest.raises(CacheUnusableError, match="a patch does not fit"),
    ):
        read_cache(session)
