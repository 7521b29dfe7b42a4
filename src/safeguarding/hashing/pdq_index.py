"""The PDQ match index: named segments of multi-index-hashed PDQ hashes, persisted as ``.npy``.

Each hash list is one segment (named by the caller, e.g. ``list-7-v3``). Adding or replacing a list
builds only that list's segment; removing a list deletes its directory; single entries can be
tombstoned. Nothing is ever rebuilt as a whole: the full rebuild is what makes other indexes slow
to update. Every segment is a directory of plain numpy arrays (``words.npy``, ``ids.npy``,
``slots.npy``, ``overflow.npy``, ``overflow_starts.npy``, ``deleted.npy``) loaded memory-mapped,
so opening a 10 M-hash index takes well under a second and pages are shared between processes.
No pickle anywhere. An index written in an older layout opens empty (its segments are dropped,
to be added again from the lists).

``manifest.json`` lists the segments; it is replaced atomically after a segment is fully written.
Processes that share the directory (the web app, an ingest, a list import) change it under an
exclusive lock (``.lock``), each change read into the manifest as it stands on disk, so one
process never drops a segment another has added. A process killed while writing leaves a segment
missing or half-replaced and staging directories (``.<name>-…``) behind: opening the index drops
what cannot be read and clears the leftovers, and whoever owns the lists adds the dropped
segments again (``Matcher.sync``), so a crash costs a rebuild, never an index that cannot open.
"""

from __future__ import annotations

import fcntl
import json
import math
import mmap
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from safeguarding.errors import SafeguardingError
from safeguarding.hashing.mih import (
    IntArray,
    Segment,
    build_segment,
    search_segment,
)
from safeguarding.hashing.pdq_bits import Words

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
LOCK = ".lock"
_ARRAYS = ("words", "ids", "slots", "overflow", "overflow_starts", "deleted")
DEFAULT_BATCH = 256


@dataclass(frozen=True)
class Hits:
    """Matches of a search: for each, the query's index, the segment, the id and the distance."""

    query: IntArray
    segment: list[str]
    ids: IntArray
    distance: IntArray

    def __len__(self) -> int:
        return int(self.query.size)


class PDQIndex:
    """Named segments of PDQ hashes; in memory (``directory=None``) or persisted in a directory."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._segments: dict[str, Segment] = {}
        if directory is not None and directory.is_dir():
            self._load()

    def __len__(self) -> int:
        return sum(segment.live for segment in self._segments.values())

    @property
    def segment_names(self) -> list[str]:
        return sorted(self._segments)

    def segment(self, name: str) -> Segment:
        return self._segments[name]

    def add_segment(self, name: str, ids: IntArray, words: Words) -> None:
        """Index ``words`` (``(n, 4)`` uint64) under ``name`` with the caller's ``ids``; a
        segment of the same name is replaced."""
        _check_name(name)
        segment = build_segment(np.asarray(ids, dtype=np.int64), words)
        if self.directory is None:
            self._segments[name] = segment
            return
        with self._locked():
            self._write_segment(name, segment)
            self._segments[name] = _read_segment(self.directory / name)
            self._update_manifest({name: segment.size}, ())

    def load_segment(self, name: str) -> bool:
        """Opens the segment ``name`` as another process wrote it into the directory; False if
        there is none (or it cannot be read). The caller names segments so that a name stands
        for one content (``Matcher`` puts a token drawn per list version in it), so a segment
        found under the name is the one it would build."""
        _check_name(name)
        if self.directory is None:
            return False
        with self._locked():
            try:
                segment = _read_segment(self.directory / name)
            except SafeguardingError:
                return False
            self._segments[name] = segment
            self._update_manifest({name: segment.size}, ())
        return True

    def remove_segment(self, name: str) -> None:
        if self._segments.pop(name, None) is None:
            return
        if self.directory is not None:
            with self._locked():
                self._update_manifest({}, (name,))
                shutil.rmtree(self.directory / name, ignore_errors=True)

    def remove_ids(self, name: str, ids: IntArray) -> int:
        """Tombstone entries of one segment; returns how many were live."""
        segment = self._segments[name]
        hit = np.isin(segment.ids, np.asarray(ids, dtype=np.int64)) & ~segment.deleted
        if not hit.any():
            return 0
        deleted = segment.deleted | hit
        self._segments[name] = replace(segment, deleted=deleted)
        if self.directory is not None:
            _save_array(self.directory / name / "deleted.npy", deleted)
        return int(hit.sum())

    def search(
        self,
        queries: Words,
        radius: int | Mapping[str, int],
        *,
        batch: int = DEFAULT_BATCH,
        threads: int | None = None,
    ) -> Hits:
        """Every indexed hash within ``radius`` (per segment if a mapping) of each query.

        Batches of queries are searched on ``threads`` threads (default: one per usable core);
        the compiled search releases the GIL, so they run in parallel."""
        queries = np.ascontiguousarray(queries, dtype=np.uint64)
        usable = threads or len(os.sched_getaffinity(0))
        tasks: list[tuple[str, int, int, int]] = []
        for name in self.segment_names:
            limit = radius if isinstance(radius, int) else radius.get(name)
            if limit is None:
                continue
            tasks += [(name, limit, begin, batch) for begin in range(0, len(queries), batch)]

        def run(task: tuple[str, int, int, int]) -> tuple[IntArray, IntArray, IntArray]:
            name, limit, begin, size = task
            return search_segment(self._segments[name], queries[begin : begin + size], limit)

        workers = min(len(tasks), usable)
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(run, tasks))
        else:
            results = [run(task) for task in tasks]
        q_parts, s_parts, i_parts, d_parts = [], [], [], []
        for (name, _, begin, _), (owners, positions, distance) in zip(tasks, results, strict=True):
            if owners.size:
                q_parts.append(owners + begin)
                i_parts.append(self._segments[name].ids[positions])
                d_parts.append(distance)
                s_parts.extend([name] * owners.size)
        if not q_parts:
            empty = np.zeros(0, dtype=np.int64)
            return Hits(empty, [], empty, empty)
        return Hits(
            np.concatenate(q_parts), s_parts, np.concatenate(i_parts), np.concatenate(d_parts)
        )

    # --- persistence -------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The directory to this process alone (an exclusive ``flock``, released by the kernel
        if the process dies), while it writes or tidies: other processes may share it."""
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / LOCK).open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write_segment(self, name: str, segment: Segment) -> None:
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.directory))
        for array in _ARRAYS:
            _save_array(staging / f"{array}.npy", getattr(segment, array))
        (staging / "meta.json").write_text(json.dumps({"table_bits": segment.table_bits}))
        target = self.directory / name
        if target.exists():
            old = target.with_name(f".{name}-old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(target)

    def _read_manifest(self) -> dict[str, int]:
        """The segments the manifest on disk lists (none without a manifest), by name."""
        assert self.directory is not None
        path = self.directory / MANIFEST
        if not path.is_file():
            return {}
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SafeguardingError(f"{path}: unreadable PDQ index manifest ({exc})") from exc
        version = manifest.get("format")
        if isinstance(version, int) and 0 < version < FORMAT_VERSION:
            # Segments of an older layout are derived data: dropped (``_tidy`` removes their
            # directories); whoever owns the lists adds them again (``Matcher.sync`` builds
            # every list version it does not find).
            return {}
        if version != FORMAT_VERSION:
            raise SafeguardingError(
                f"{path}: PDQ index format {version!r}, expected {FORMAT_VERSION}"
            )
        segments: dict[str, int] = manifest.get("segments", {})
        return segments

    def _update_manifest(self, added: Mapping[str, int], removed: tuple[str, ...]) -> None:
        """The manifest on disk with ``added`` in and ``removed`` out (under ``_locked``)."""
        assert self.directory is not None
        segments = {
            name: size for name, size in self._read_manifest().items() if name not in removed
        }
        segments.update(added)
        self._write_manifest(segments)

    def _write_manifest(self, segments: Mapping[str, int]) -> None:
        """The manifest listing ``segments``, replaced atomically (left alone if it already
        says that: opening an index writes nothing unless something was dropped)."""
        assert self.directory is not None
        manifest = {"format": FORMAT_VERSION, "segments": dict(segments)}
        text = json.dumps(manifest, indent=1, sort_keys=True)
        path = self.directory / MANIFEST
        if path.is_file() and path.read_text() == text:
            return
        temporary = self.directory / f".{MANIFEST}.tmp"
        temporary.write_text(text)
        os.replace(temporary, path)

    def _load(self) -> None:
        """Opens the segments the manifest lists. One that is missing or cannot be read (a
        process killed while replacing it) is dropped from the manifest, to be added again
        from its list; then ``_tidy`` clears what killed writers left behind."""
        assert self.directory is not None
        with self._locked():
            listed = self._read_manifest()
            for name in listed:
                _check_name(name)
                try:
                    self._segments[name] = _read_segment(self.directory / name)
                except SafeguardingError:
                    continue
            self._tidy()
            self._write_manifest({name: s.size for name, s in self._segments.items()})

    def _tidy(self) -> None:
        """Removes everything in the directory that is not an open segment, the manifest or the
        lock (under ``_locked``, so no other process is writing): staging and replaced
        directories (``.<name>-…``) and segments of a killed writer that never reached the
        manifest, or that were dropped by ``_load``."""
        assert self.directory is not None
        kept = {MANIFEST, LOCK, *self._segments}
        for entry in self.directory.iterdir():
            if entry.name in kept:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"segment name {name!r}: letters, digits, '-' and '_' only")


def _save_array(path: Path, array: np.ndarray) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        np.save(handle, np.asarray(array), allow_pickle=False)
    os.replace(temporary, path)


def _read_segment(directory: Path) -> Segment:
    try:
        meta = json.loads((directory / "meta.json").read_text())
        arrays = {name: _map_array(directory / f"{name}.npy") for name in _ARRAYS}
    except (OSError, ValueError) as exc:
        raise SafeguardingError(f"{directory}: unreadable PDQ index segment ({exc})") from exc
    return Segment(
        words=arrays["words"],
        ids=arrays["ids"],
        slots=arrays["slots"],
        overflow=arrays["overflow"],
        overflow_starts=np.array(arrays["overflow_starts"]),
        table_bits=int(meta["table_bits"]),
        deleted=np.array(arrays["deleted"]),
    )


def _map_array(path: Path) -> np.ndarray:
    """The array in ``path`` (``.npy``), memory-mapped read-only, with huge pages asked for.

    The search reads a few thousand random cache lines of the index per query. With 4 KiB
    pages nearly each one also misses the address-translation caches, and on a busy machine
    the page-table walk misses the CPU caches too; with 2 MiB pages the page tables of a
    gigabyte fit in the caches. ``MADV_HUGEPAGE`` is asked before the first read, so the
    kernel can map the file's page cache in 2 MiB pages where the file system allows it."""
    with path.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f".npy format {version} not supported")
        if dtype.hasobject:
            raise ValueError("object arrays are not supported")
        if not dtype.isnative:  # copied from a machine of the other byte order
            raise ValueError(f"{path.name} is not in this machine's byte order")
        offset = handle.tell()
        if math.prod(shape) == 0:
            return np.zeros(shape, dtype=dtype)
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        mapping.madvise(mmap.MADV_HUGEPAGE)
    return np.ndarray(
        shape, dtype=dtype, buffer=mapping, offset=offset, order="F" if fortran else "C"
    )
