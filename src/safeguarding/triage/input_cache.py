"""The triage run's input cache: columns kept in the store between runs.

Reading a million reports with their files, hashes and identifiers takes minutes; a run after
10,000 new reports needs only those. So every run leaves its inputs (reports, files, exact hashes,
identifiers, as ``triage.tables`` columns, with the 128-bit key dictionaries of ``triage.keys``),
its results (cluster and subject of every file and report, levels, decision fingerprints, the
indexes new files and reports are placed against, the summaries) and the watermarks it read up to
(highest id and row count of every table) in ``triage_input_cache``, in the same transaction as
its results. The next run reads the cache, checks it still describes the store, and reads only
rows above the watermarks.

Storage: one row per (column, part), each part a ``.npy`` array (read back without pickle) or,
for summaries, an Arrow IPC frame. A column that only grew since the last run gets its new rows
as one more part instead of being rewritten. A column of which a few earlier values changed (the
levels, scores and fingerprints of the reports a run decided again) gets a patch, the changed
positions (``patch_at.<column>``) and their values (``patch_value.<column>``) as one more part
each, applied in order when read; other columns are rewritten whole, and so is a column once its
patches hold more than ``MAX_PATCHED`` of its values. After ``MAX_PARTS`` parts a column is
rewritten as one.

The cache is derived data: the tables stay the single source of truth. A cache that is missing,
unreadable, from another format, settings or schema version, or older than the last run is not
used: the run reads the store in full and says why.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from safeguarding.store.models import TriageInputCache
from safeguarding.triage import bulk
from safeguarding.triage.unionfind import IntArray

FORMAT = 2
META = "meta"
FRAME_PREFIX = "frame."
PATCH_AT = "patch_at."
PATCH_VALUE = "patch_value."
MAX_PARTS = 64
MAX_PATCHED = 1 / 8


class CacheUnusableError(Exception):
    """Why the cache cannot stand for the store (the message is shown to the user)."""


@dataclass(frozen=True)
class StoredColumns:
    """What a run left: named arrays, named frames, its meta data and each column's part count."""

    arrays: Mapping[str, np.ndarray]
    frames: Mapping[str, pl.DataFrame]
    meta: Mapping[str, Any]
    parts: Mapping[str, int] = field(default_factory=dict)


def _array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _frame_bytes(frame: pl.DataFrame) -> bytes:
    """Summaries compress about fivefold with zstd, for a fraction of a second."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="zstd")
    return buffer.getvalue()


def _array(data: bytes) -> np.ndarray:
    """A ``.npy`` part as an array over ``data`` itself (read-only, no copy); no pickles."""
    buffer = io.BytesIO(data)
    version = np.lib.format.read_magic(buffer)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(buffer)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(buffer)
    count = int(np.prod(shape, dtype=np.int64))
    if dtype.hasobject or fortran or len(data) - buffer.tell() != count * dtype.itemsize:
        raise ValueError("not a plain array")
    return np.frombuffer(data, dtype=dtype, count=count, offset=buffer.tell()).reshape(shape)


def read_cache(session: Session) -> StoredColumns:
    """The stored columns; ``CacheUnusableError`` when there are none or they are not whole."""
    rows = session.execute(
        select(TriageInputCache.name, TriageInputCache.part, TriageInputCache.data).order_by(
            TriageInputCache.name, TriageInputCache.part
        )
    ).all()
    if not rows:
        raise CacheUnusableError("no input cache")
    chunks: dict[str, list[bytes]] = {}
    for name, part, data in rows:
        chunks.setdefault(name, [])
        if part != len(chunks[name]):
            missing = len(chunks[name])
            raise CacheUnusableError(f"input cache damaged: column {name} lacks part {missing}")
        chunks[name].append(bytes(data))
    try:
        meta = json.loads(chunks.pop(META)[0])
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CacheUnusableError("input cache from another version")
        frames = {
            name.removeprefix(FRAME_PREFIX): pl.read_ipc(io.BytesIO(parts[0]))
            for name, parts in chunks.items()
            if name.startswith(FRAME_PREFIX)
        }
        arrays = {
            name: np.concatenate([_array(p) for p in parts]) if len(parts) > 1 else _array(parts[0])
            for name, parts in chunks.items()
            if not name.startswith(FRAME_PREFIX)
        }
        lengths = meta["lengths"]
    except CacheUnusableError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, OSError, pl.exceptions.PolarsError) as exc:
        raise CacheUnusableError(f"input cache unreadable ({type(exc).__name__})") from exc
    if sorted(lengths) != sorted(arrays) or any(
        int(arrays[name].shape[0]) != int(lengths[name]) for name in arrays
    ):
        raise CacheUnusableError("input cache damaged: columns do not match their recorded lengths")
    try:
        arrays = _patched(arrays)
    except (KeyError, IndexError, ValueError) as exc:
        raise CacheUnusableError(f"input cache damaged: a patch does not fit ({exc})") from exc
    parts = {name: len(chunks[name]) for name in chunks}
    return StoredColumns(arrays, frames, meta, parts)


def _patched(stored: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns with their patches applied (a later patch of a position wins), patches
    themselves left out."""
    arrays = {name: a for name, a in stored.items() if not name.startswith((PATCH_AT, PATCH_VALUE))}
    for name in stored:
        if not name.startswith(PATCH_AT):
            continue
        column = name.removeprefix(PATCH_AT)
        at, value = stored[name].astype(np.int64), stored[PATCH_VALUE + column]
        if at.shape != value.shape or column not in arrays:
            raise ValueError(f"patch of {column}")
        # The last value given for each position, as applying the patches one by one would.
        last = at.shape[0] - 1 - np.unique(at[::-1], return_index=True)[1]
        result = np.array(arrays[column])
        result[at[last]] = value[last]
        arrays[column] = result
    return arrays


def _moved(old: np.ndarray, new: np.ndarray) -> IntArray | None:
    """Positions where the 1-D ``new`` differs from ``old`` (bit for bit; same shape and dtype),
    or None when the column cannot be patched (not one value per row)."""
    if old.ndim != 1 or old.dtype.itemsize not in (1, 2, 4, 8):
        return None
    bits = np.dtype(f"u{old.dtype.itemsize}")
    moved: IntArray = np.flatnonzero(old.view(bits) != new.view(bits)).astype(np.int64)
    return moved


def write_cache(
    session: Session,
    arrays: Mapping[str, np.ndarray],
    frames: Mapping[str, pl.DataFrame],
    meta: Mapping[str, Any],
    previous: StoredColumns | None,
    grown: frozenset[str] = frozenset(),
) -> dict[str, int]:
    """Store the columns; a column whose earlier value is a prefix of the new one gets only its
    new rows as one more part, one with a few values changed a patch. ``grown``: columns known
    to start with their earlier value (built by appending to it), not compared again. Returns
    the bytes written per kind ("appended", "rewritten")."""
    written = {"appended": 0, "rewritten": 0}
    rows: list[list[Any]] = []
    same: set[str] = set()
    kept = dict(previous.arrays) if previous is not None else {}
    if previous is None:
        session.execute(delete(TriageInputCache))
    else:
        same = {
            name for name, frame in frames.items()
            if name in previous.frames and frame.equals(previous.frames[name])
        }  # fmt: skip
        gone = set(previous.arrays) - set(arrays)
        stale = gone | {p + name for name in gone for p in (PATCH_AT, PATCH_VALUE)}
        stale |= {FRAME_PREFIX + name for name in previous.frames if name not in same}
        stale.add(META)
        _delete_names(session, sorted(stale))
    rewrite: list[str] = []
    patched: dict[str, int] = {}
    for name, array in arrays.items():
        old = kept.get(name)
        parts = previous.parts.get(name, 0) if previous is not None else 0
        n_old = 0 if old is None else int(old.shape[0])
        if (
            old is not None
            and old.dtype == array.dtype
            and old.shape[1:] == array.shape[1:]
            and n_old <= array.shape[0]
            and parts < MAX_PARTS
        ):
            before = _patches(previous, name)
            moved = np.zeros(0, np.int64) if name in grown else _moved(old, array[:n_old])
            if (
                moved is not None
                and moved.size
                and (before[0] >= MAX_PARTS or before[1] + moved.size > MAX_PATCHED * n_old)
            ):
                moved = None  # too many patches: rewritten below
            if moved is not None or np.array_equal(array[:n_old], old):
                if moved is not None and moved.size:
                    for prefix, values in ((PATCH_AT, moved), (PATCH_VALUE, array[moved])):
                        data = _array_bytes(values)
                        rows.append([prefix + name, before[0], data])
                        written["appended"] += len(data)
                if before[1] or (moved is not None and moved.size):
                    patched[name] = before[1] + (0 if moved is None else moved.size)
                if array.shape[0] > n_old:
                    data = _array_bytes(array[n_old:])
                    rows.append([name, parts, data])
                    written["appended"] += len(data)
                continue
        if old is not None:
            rewrite.append(name)
        data = _array_bytes(array)
        rows.append([name, 0, data])
        written["rewritten"] += len(data)
    _delete_names(session, [*rewrite, *(p + n for n in rewrite for p in (PATCH_AT, PATCH_VALUE))])
    for name, frame in frames.items():
        if name in same:
            continue
        data = _frame_bytes(frame)
        rows.append([FRAME_PREFIX + name, 0, data])
        written["rewritten"] += len(data)
    lengths = {name: int(array.shape[0]) for name, array in arrays.items()}
    for name, count in patched.items():
        lengths[PATCH_AT + name] = lengths[PATCH_VALUE + name] = count
    meta_bytes = json.dumps({**meta, "format": FORMAT, "lengths": lengths}).encode()
    rows.append([META, 0, meta_bytes])
    for row in rows:  # one row at a time: parts can be large, a batch would hold them all twice
        bulk.insert_values(session, TriageInputCache, ("name", "part", "data"), [row])
    return written


def _patches(previous: StoredColumns | None, name: str) -> tuple[int, int]:
    """How many patch parts column ``name`` has and how many values they hold."""
    if previous is None:
        return 0, 0
    lengths = previous.meta.get("lengths", {})
    return previous.parts.get(PATCH_AT + name, 0), int(lengths.get(PATCH_AT + name, 0))


def _delete_names(session: Session, names: list[str]) -> None:
    if names:
        session.execute(delete(TriageInputCache).where(TriageInputCache.name.in_(names)))


def clear_cache(session: Session) -> None:
    session.execute(delete(TriageInputCache))
