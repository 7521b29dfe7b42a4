"""The triage run's input cache: columns kept in the store between runs.

Reading a million reports with their files, hashes and identifiers takes minutes; a run after
10,000 new reports needs only those. So every run leaves its inputs (reports, files, exact hashes,
identifiers, as ``triage.tables`` columns, with the 128-bit key dictionaries of ``triage.keys``),
its results (cluster and subject of every file and report, levels, decision fingerprints, the
indexes new files and reports are placed against, the summaries) and the watermarks it read up to
(highest id of every table, and a tally that shows whether earlier rows went away) in
``triage_input_cache``, in the same transaction as its results. The next run reads the cache's
meta data, checks it still describes the store, reads the columns into arrays with room for the
rows stored since, and reads only those rows. The queue is built from six of its columns.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from safeguarding.store.models import TriageInputCache
from safeguarding.triage import bulk
from safeguarding.triage.unionfind import IntArray

# The cache's version: another storage form, or another meaning of a cached column, makes an
# earlier cache unusable (the run reads the store in full and says why). 3: identifiers without a
# service are keyed with their provider; 4: PDQ hashes of flat pictures are not usable; 5: viral
# status is a file's own (p_flagged), and work items are joined through the files of new material;
# 6: a known list's non-pertinent entries make no file known (p_known); 7: spread is a file's own
# (p_spread, counted from the reports holding each hash: ci_exact_reports, ci_pdq_reports), and a
# content summary's ``large`` says a file of the cluster is viral by spread; 8: IP links are windows
# anchored at an address's first sighting (no chaining in time), and an address that is not
# globally routable links nothing, so the subjects and subject index differ; identifiers carry
# their kind (i_kind: a screen name of several accounts links nothing); an empty file's digests
# are no exact keys (e_key); work items join through direct copies of new material, not clusters;
# and the kept scores and routes are summed exactly, with youth care winning over rule order.
FORMAT = 8
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
    """What a run left: named arrays, named frames, its meta data and each column's part count.

    The arrays are read-only. A column read with room after its rows (``read_cache``) can be
    grown once in place (``grown``)."""

    arrays: Mapping[str, np.ndarray]
    frames: Mapping[str, pl.DataFrame]
    meta: Mapping[str, Any]
    parts: Mapping[str, int] = field(default_factory=dict)
    room: dict[str, np.ndarray] = field(default_factory=dict)

    def grown(self, name: str, new: np.ndarray) -> np.ndarray:
        """Column ``name`` followed by the rows ``new`` (read-only). The first call per column
        writes them into the room left after the stored rows when they fit, so the stored rows
        (hundreds of megabytes at a million reports) are not copied; otherwise, or when called
        again, the two are concatenated."""
        old = self.arrays[name]
        buffer = self.room.pop(name, None)
        end = old.shape[0] + new.shape[0]
        if buffer is None or end > buffer.shape[0] or buffer.shape[1:] != new.shape[1:]:
            return np.concatenate([old, new.astype(old.dtype, copy=False)])
        buffer[old.shape[0] : end] = new
        return _read_only(buffer[:end])


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


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


def read_meta(session: Session) -> dict[str, Any]:
    """The cache's meta data (watermarks, settings digest, run, column lengths), read on its
    own so that a run can size the room it needs before the columns are read."""
    data = session.scalar(
        select(TriageInputCache.data).where(
            TriageInputCache.name == META, TriageInputCache.part == 0
        )
    )
    if data is None:
        if session.scalar(select(TriageInputCache.name).limit(1)) is not None:
            raise CacheUnusableError("input cache damaged: no meta data")
        raise CacheUnusableError("no input cache")
    try:
        meta = json.loads(bytes(data))
    except ValueError as exc:
        raise CacheUnusableError(f"input cache unreadable ({type(exc).__name__})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CacheUnusableError("input cache from another version")
    if not isinstance(meta.get("lengths"), dict):
        raise CacheUnusableError("input cache unreadable (no column lengths)")
    return meta


class _Assembly:
    """Columns put together part by part, as the rows arrive, into arrays of their recorded
    length plus the room asked for: each part is copied once and then dropped, so reading
    never holds the cache twice."""

    def __init__(self, lengths: Mapping[str, int], room: Mapping[str, int]) -> None:
        self.lengths = {name: int(length) for name, length in lengths.items()}
        self.room = room
        self.buffers: dict[str, np.ndarray] = {}
        self.filled: dict[str, int] = {}
        self.parts: dict[str, int] = {}

    def add(self, name: str, part: int, data: bytes) -> None:
        expected = self.parts.get(name, 0)
        if part != expected:
            raise CacheUnusableError(f"input cache damaged: column {name} lacks part {expected}")
        if name not in self.lengths:
            raise CacheUnusableError(f"input cache damaged: column {name} has no recorded length")
        try:
            array = _array(data)
        except (ValueError, OSError) as exc:
            raise CacheUnusableError(f"input cache unreadable ({type(exc).__name__})") from exc
        if part == 0:
            size = self.lengths[name] + max(0, int(self.room.get(name, 0)))
            self.buffers[name] = np.empty((size, *array.shape[1:]), dtype=array.dtype)
            self.filled[name] = 0
        buffer, start = self.buffers[name], self.filled[name]
        end = start + array.shape[0]
        if array.dtype != buffer.dtype or array.shape[1:] != buffer.shape[1:]:
            raise CacheUnusableError(f"input cache damaged: parts of column {name} differ")
        if end > self.lengths[name]:
            raise CacheUnusableError(_LENGTHS_DIFFER)
        buffer[start:end] = array
        self.filled[name] = end
        self.parts[name] = expected + 1

    def columns(self) -> dict[str, np.ndarray]:
        """Every column at its recorded length (views of the buffers, room after them)."""
        if sorted(self.lengths) != sorted(self.buffers) or any(
            self.filled[name] != length for name, length in self.lengths.items()
        ):
            raise CacheUnusableError(_LENGTHS_DIFFER)
        return {name: self.buffers[name][: self.lengths[name]] for name in self.buffers}


_LENGTHS_DIFFER = "input cache damaged: columns do not match their recorded lengths"


def read_cache(
    session: Session,
    meta: Mapping[str, Any] | None = None,
    room: Mapping[str, int] | None = None,
    only: Iterable[str] | None = None,
) -> StoredColumns:
    """The stored columns; ``CacheUnusableError`` when there are none or they are not whole.
    ``meta``: the meta data ``read_meta`` gave (read here when not given); the cache must still
    hold it, else another run replaced the cache in between. ``room``: rows to leave free after
    the stored rows of each named column, for ``StoredColumns.grown``. ``only``: read just these
    columns (with their patches) and no frames."""
    if meta is None:
        meta = read_meta(session)
    lengths: Mapping[str, int] = meta["lengths"]
    statement = select(TriageInputCache.name, TriageInputCache.part, TriageInputCache.data)
    if only is not None:
        wanted = set(only)
        missing = sorted(wanted - set(lengths))
        if missing:
            raise CacheUnusableError(f"input cache damaged: no column {missing[0]}")
        names = {n for n in lengths if n.removeprefix(PATCH_AT).removeprefix(PATCH_VALUE) in wanted}
        lengths = {name: lengths[name] for name in names}
        statement = statement.where(TriageInputCache.name.in_([META, *sorted(names)]))
    assembly = _Assembly(lengths, room or {})
    frames: dict[str, pl.DataFrame] = {}
    meta_seen = False
    # Rows one at a time (a Core statement: an ORM one would fetch every row first).
    rows = session.connection().execute(
        statement.order_by(TriageInputCache.name, TriageInputCache.part).execution_options(
            stream_results=True, max_row_buffer=2
        )
    )
    for name, part, data in rows:
        if name == META:
            meta_seen = meta_seen or (part == 0 and _same_meta(bytes(data), meta))
        elif name.startswith(FRAME_PREFIX):
            if part != 0:
                raise CacheUnusableError(f"input cache damaged: frame {name} has parts")
            try:
                frames[name.removeprefix(FRAME_PREFIX)] = pl.read_ipc(io.BytesIO(bytes(data)))
            except (OSError, pl.exceptions.PolarsError) as exc:
                raise CacheUnusableError(f"input cache unreadable ({type(exc).__name__})") from exc
        else:
            assembly.add(name, part, bytes(data))
        del data  # the part is copied: its memory is reused for the next one
    if not meta_seen:
        raise CacheUnusableError("input cache replaced while it was read")
    buffers = assembly.columns()
    try:
        arrays = _patched(buffers)
    except (KeyError, IndexError, ValueError) as exc:
        raise CacheUnusableError(f"input cache damaged: a patch does not fit ({exc})") from exc
    parts = dict(assembly.parts)
    room_left = {
        name: assembly.buffers[name]
        for name in arrays
        if assembly.buffers[name].shape[0] > arrays[name].shape[0]
    }
    return StoredColumns(
        {name: _read_only(array) for name, array in arrays.items()}, frames, meta, parts, room_left
    )


def _same_meta(data: bytes, meta: Mapping[str, Any]) -> bool:
    try:
        return bool(json.loads(data) == meta)
    except ValueError:
        return False


def _patched(stored: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns with their patches applied in place (a later patch of a position wins),
    patches themselves left out."""
    arrays = {name: a for name, a in stored.items() if not name.startswith((PATCH_AT, PATCH_VALUE))}
    for name in stored:
        if not name.startswith(PATCH_AT):
            continue
        column = name.removeprefix(PATCH_AT)
        at, value = stored[name].astype(np.int64), stored[PATCH_VALUE + column]
        if at.shape != value.shape or column not in arrays:
            raise ValueError(f"patch of {column}")
        if at.size and (int(at.min()) < 0 or int(at.max()) >= arrays[column].shape[0]):
            raise IndexError(f"patch of {column} outside the column")
        # The last value given for each position, as applying the patches one by one would.
        last = at.shape[0] - 1 - np.unique(at[::-1], return_index=True)[1]
        arrays[column][at[last]] = value[last]
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
