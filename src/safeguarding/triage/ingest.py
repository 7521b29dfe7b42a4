"""Ingest: find the documents under the given paths, read them, store them batch by batch.

Paths may be files, directories (read recursively, in name order) or .zip archives. The format
follows the extension: ``.xml`` NCMEC CyberTipline, ``.jsonl``/``.ndjson`` the project's JSON
Lines, ``.csv`` simple CSV. Each document is parsed once, in name order, except that with parse
workers XML file details are parsed after all other documents (``_reading_order``); a
``<fileDetails>`` read before its report is held back until the report is read, so a file always
finds its report, whatever the order of the names.

Each batch (at most ``batch_size`` records) is one transaction: its reports, files, hashes,
matches and quarantine records commit together or not at all. A run that is killed keeps the
batches it committed; running it again skips what is stored (same digest) and completes the rest,
ending in the same state as an uninterrupted run.
"""

from __future__ import annotations

import gc
import lzma
import multiprocessing
import os
import signal
import stat
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path, PurePath
from typing import NamedTuple

from sqlalchemy import update

from safeguarding.access import audit
from safeguarding.errors import SafeguardingError, ValidationError
from safeguarding.hashing.files import FileDigest, hash_file
from safeguarding.store import Store
from safeguarding.store.bulk_writes import Transactions, bulk_transactions
from safeguarding.store.models import IngestRun
from safeguarding.triage import transport
from safeguarding.triage.archives import MemberEntry, list_members, member_bytes, member_head
from safeguarding.triage.formats import csv as csv_format
from safeguarding.triage.formats import jsonl, ncmec_xml
from safeguarding.triage.matching import Matcher, PDQHits
from safeguarding.triage.options import TriageOptions
from safeguarding.triage.prepare import Prepared, PreparedFile, PreparedReport, pdq_values
from safeguarding.triage.quarantine import record_rejections
from safeguarding.triage.records import FileRecord, Parsed, Rejected
from safeguarding.triage.transport import ChunkResult
from safeguarding.triage.writer import Writer

_PARALLEL_FROM = 500
FORMATS = {".xml": "ncmec_xml", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
MAX_TABULAR_BYTES = 2_000_000_000


class Document(NamedTuple):
    """One input document: where it is, its format and size. Plain values, so that worker
    processes can read and parse documents in parallel (a tuple: an archive can hold hundreds of
    thousands, each built once by the parent before any work starts)."""

    location: str
    format: str
    path: str
    member: str | None
    size: int
    entry: MemberEntry | None = None

    def read(self, limit: int | None = None) -> bytes:
        """The document's bytes (at most ``limit``; a zip member at most its declared size + 1,
        so a member that lies about its size is cut off and refused as too large)."""
        if self.member is None:
            with open(self.path, "rb") as handle:
                return handle.read(-1 if limit is None else limit)
        wanted = self.size + 1 if limit is None else limit
        if self.entry is not None:
            return member_bytes(_descriptor(self.path), self.entry, self.member, wanted)
        archive = _ARCHIVES.get(self.path)
        if archive is None:
            archive = _ARCHIVES[self.path] = zipfile.ZipFile(self.path)
        with archive.open(self.member) as handle:
            return handle.read(wanted)

    def head(self, size: int) -> bytes:
        """About the first ``size`` bytes, cheaply: a guess at what the document is, b"" where
        it cannot be had (the full read says why)."""
        try:
            if self.entry is None:
                return self.read(size)
            return member_head(_descriptor(self.path), self.entry, size)
        except UNREADABLE_MEMBER:
            return b""


# What reading an archive member raises when the member itself is at fault: damaged (a bad
# CRC, a bad local header, corrupt compressed data, cut short), encrypted (``zipfile`` raises
# RuntimeError without a password) or compressed by a method ``zipfile`` does not read. One
# member is refused for it, never the archive (``read_document``).
UNREADABLE_MEMBER: tuple[type[Exception], ...] = (
    OSError,
    EOFError,
    RuntimeError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
)


# Open archives of this process (workers open their own), and archive files open for positioned
# reads (``os.pread`` keeps no file offset, so forked workers can share them).
_ARCHIVES: dict[str, zipfile.ZipFile] = {}
_DESCRIPTORS: dict[str, int] = {}


def _close_archives() -> None:
    """Closes this process's archives (a later run may find another file at the same path)."""
    for archive in _ARCHIVES.values():
        archive.close()
    for descriptor in _DESCRIPTORS.values():
        os.close(descriptor)
    _ARCHIVES.clear()
    _DESCRIPTORS.clear()


@contextmanager
def _batched_collections() -> Iterator[None]:
    """The cyclic garbage collector kept out of a run's way: the intake makes millions of
    short-lived tuples and few cycles. In the writing process no collection starts by itself
    (each would scan the batch being filled, the run's PDQ hits and whatever the executor's
    result thread has just unpickled: about 3 % of a run's CPU); the young generations are
    collected after each stored batch instead, when the batch is gone. Parse
    workers collect by themselves, every ``_COLLECT_AFTER`` new objects. What exists before
    the run is frozen (never scanned), and unfrozen after it unless the caller had frozen
    objects itself (its own unfreeze then releases them all)."""
    thresholds = gc.get_threshold()
    enabled = gc.isenabled()
    frozen = gc.get_freeze_count()
    gc.freeze()
    gc.set_threshold(_COLLECT_AFTER, *thresholds[1:])
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.set_threshold(*thresholds)
        if not frozen:
            gc.unfreeze()


_COLLECT_AFTER = 100_000  # new container objects between a parse worker's young collections


def _descriptor(path: str) -> int:
    descriptor = _DESCRIPTORS.get(path)
    if descriptor is None:
        descriptor = _DESCRIPTORS[path] = os.open(path, os.O_RDONLY)
    return descriptor


@dataclass
class IngestSummary:
    run_id: int
    source: str
    documents: int = 0
    reports_stored: int = 0
    reports_unchanged: int = 0
    files_stored: int = 0
    files_unchanged: int = 0
    quarantined: int = 0
    rejected: int = 0
    matches: int = 0
    skipped: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    rules: dict[str, int] = field(default_factory=dict)


def _file_document(path: Path) -> Document | None:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        return None
    return Document(str(path), fmt, str(path), None, path.stat().st_size)


def _archive_documents(path: Path, skipped: list[str]) -> list[Document]:
    """The documents of an archive, in name order (members of no known format are skipped).
    Built from the listing's columns without a call per member: a day's archive holds hundreds
    of thousands, and the parse workers wait for the list."""
    archive_path = str(path)
    names, sizes, entries = list_members(path)
    order = sorted(range(len(names)), key=names.__getitem__)
    names = [names[i] for i in order]
    formats = [FORMATS.get(_extension(name)) for name in names]
    prefix = archive_path + "!"
    if None in formats:
        skipped += [prefix + name for name, f in zip(names, formats, strict=True) if f is None]
        kept = [k for k, f in enumerate(formats) if f is not None]
        order, names = [order[k] for k in kept], [names[k] for k in kept]
        formats = [formats[k] for k in kept]
    return list(
        map(
            Document._make,
            zip(
                [prefix + name for name in names], formats, [archive_path] * len(names), names,
                [sizes[i] for i in order], [entries[i] for i in order], strict=True,
            ),
        )
    )  # fmt: skip


def _extension(name: str) -> str:
    """``posixpath.splitext(name)[1].lower()`` for the last part of a member's name (a name
    that is only dots and an extension, as ``.xml``, has none), without its calls: an archive
    can hold a million names. Where the character before the last dot is neither a dot nor a
    slash (nearly every name), the extension is all from that dot on."""
    dot = name.rfind(".")
    if dot > 0 and name[dot - 1] not in "./" and "/" not in name[dot:]:
        return name[dot:].lower()
    base = name.rfind("/") + 1
    if dot <= base or not name[base:dot].strip("."):
        return ""
    return name[dot:].lower()


def discover(paths: list[Path]) -> tuple[list[Document], list[str], list[str]]:
    """Every document under ``paths`` (in a stable order), the files skipped for their format,
    and what under a directory could not be read, each as ``path: why``.

    A directory is walked without following links to directories; what it holds that cannot be
    read (a subdirectory without permission, a broken link, a link loop) or is not a regular
    file (a FIFO, a device: opening one would wait forever for a writer) is left out and named,
    not dropped without a word nor allowed to end the run. A path named on the command line
    that is not a regular file is refused: the user asked for that one file."""
    documents: list[Document] = []
    skipped: list[str] = []
    unreadable: list[str] = []
    for path in paths:
        if not path.exists():
            raise ValidationError(f"{path}: no such file or directory", rule="missing_path")
        if path.is_dir():
            candidates = _walk(path, unreadable)
        elif (why := _not_regular(path)) is not None:
            raise ValidationError(f"{path}: {why}", location=str(path), rule="not_a_file")
        else:
            candidates = [path]
        for candidate in candidates:
            if candidate.suffix.lower() == ".zip":
                documents.extend(_archive_documents(candidate, skipped))
            elif (document := _file_document(candidate)) is not None:
                documents.append(document)
            elif path.is_dir():
                skipped.append(str(candidate))
            else:
                raise ValidationError(
                    f"{candidate}: unknown format; expected .xml, .jsonl, .ndjson, .csv or .zip",
                    location=str(candidate),
                    rule="unknown_format",
                )
    return documents, skipped, unreadable


def _walk(directory: Path, unreadable: list[str]) -> list[Path]:
    """The regular files under ``directory`` not hidden by a leading dot, sorted; what cannot
    be read or is not a regular file is added to ``unreadable`` with why."""

    def refused(error: OSError) -> None:
        unreadable.append(f"{error.filename}: cannot be read ({error.strerror or error})")

    files: list[Path] = []
    for top, dirs, names in os.walk(directory, onerror=refused):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            candidate = Path(top, name)
            if (why := _not_regular(candidate)) is None:
                files.append(candidate)
            else:
                unreadable.append(f"{candidate}: {why}")
    unreadable.sort()
    return sorted(files, key=str)


def _not_regular(path: Path) -> str | None:
    """Why ``path`` is not a regular file that can be opened, or None if it is one."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None if stat.S_ISREG(mode) else "not a regular file"


def _size_limit(document: Document, options: TriageOptions) -> int:
    """An XML document is one report; JSON Lines and CSV files hold many and may be larger."""
    return options.max_document_bytes if document.format == "ncmec_xml" else MAX_TABULAR_BYTES


def read_document(document: Document, options: TriageOptions) -> bytes | Rejected | None:
    """The document's bytes; None for a document over its size limit, which is refused unread;
    a rejection (rule ``zip_member_unreadable``) for an archive member that cannot be read.

    A damaged or encrypted member used to end the whole run, losing every other member of the
    archive: it is refused alone, with its ``archive!member`` name and why, and nothing of it is
    kept (what a damaged member decompresses to is not its content). The handler costs
    nothing on the members that read. A plain file that cannot be read (its permission, or it
    changed since it was found) is refused alone in the same way (rule ``file_unreadable``):
    the other documents of the run are still stored."""
    if document.size > _size_limit(document, options):
        return None
    try:
        return document.read()
    except UNREADABLE_MEMBER as exc:
        if document.member is None:
            if not isinstance(exc, OSError):
                raise
            why = exc.strerror or str(exc)
            message = f"{document.location}: file cannot be read ({why})"
            return Rejected(document.location, UNREADABLE_FILE_RULE, message, b"")
        return Rejected(
            document.location,
            UNREADABLE_RULE,
            f"{document.location}: archive member cannot be read ({exc})",
            b"",
        )


UNREADABLE_RULE = "zip_member_unreadable"
UNREADABLE_FILE_RULE = "file_unreadable"


def parse(
    document: Document, data: bytes | Rejected | None, options: TriageOptions
) -> list[Parsed]:
    """What one document holds, from its bytes as ``read_document`` gave them."""
    if isinstance(data, Rejected):
        return [data]
    if data is None:
        limit = _size_limit(document, options)
        return [
            Rejected(
                document.location, "document_too_large",
                f"{document.location}: {document.size} bytes, at most {limit} allowed", b"",
            )
        ]  # fmt: skip
    if document.format == "ncmec_xml":
        return [
            ncmec_xml.parse_document(data, document.location, max_bytes=options.max_document_bytes)
        ]
    if document.format == "jsonl":
        return jsonl.parse_lines(data, document.location)
    return csv_format.parse_csv(data, document.location)


# Longest file name the lookup tries (bytes, as encoded): longer names cannot exist (NAME_MAX).
_NAME_MAX = 255


def media_lookup(
    directory: Path, max_pixels: int
) -> Callable[[str, FileRecord], FileDigest | None]:
    """Finds a reported file's media in ``directory`` and hashes it; None if not found.

    Looked up first in the report's own directory, ``DIR/<report id>/``, then in ``DIR``; in
    each, the first of these that exists wins: ``<file id>``, ``<file id><extension>`` (the
    reported file name's), ``<file id>.<any extension>`` if exactly one file is named so (two are
    ambiguous: neither is taken), and, in the report's directory only, ``<file name>``. A file
    name is never looked up at the top level: names repeat across reports (``image.jpg``), so
    one file would be taken for every report that names its file so.

    Ids and names are taken as plain names, never as patterns (an id ``*`` finds a file named
    ``*``). A candidate is taken only if it is a regular file whose real path lies directly in
    the directory it was looked up in: a symbolic link out of ``DIR`` is not followed. A name
    that cannot be a file name (a NUL byte, a path separator, longer than the system allows) is
    passed over: one odd name in a report neither ends the run nor reaches its output (names can
    name people)."""
    root = directory.resolve()
    top_level = _by_stem(root)  # listed once: the top level may hold a whole export's media

    def lookup(report_id: str, file: FileRecord) -> FileDigest | None:
        file_id = _plain_name(file.provider_file_id)
        name = _plain_name(PurePath(file.file_name).name) if file.file_name else None
        report = _plain_name(report_id)
        found = None
        if report is not None:
            own = root / report
            found = _find(own, file_id, file.extension, lambda: _by_stem(own)) or _first_file(
                own, [name]
            )
        if found is None:
            found = _find(root, file_id, file.extension, lambda: top_level)
        return hash_file(found, max_pixels=max_pixels) if found is not None else None

    return lookup


def _find(
    directory: Path,
    file_id: str | None,
    extension: str | None,
    stems: Callable[[], dict[str, list[str]]],
) -> Path | None:
    """``<file id>``, ``<file id><extension>`` or the only ``<file id>.*`` in ``directory``
    (``stems``: its file names by name without the last extension, asked for only if needed)."""
    if file_id is None:
        return None
    found = _first_file(directory, [file_id, _plain_name(file_id + (extension or ""))])
    if found is None:
        named = stems().get(file_id, [])
        found = _first_file(directory, named) if len(named) == 1 else None
    return found


def _by_stem(directory: Path) -> dict[str, list[str]]:
    """The names in ``directory`` by their name without the last extension (``F1.jpg`` under
    ``F1``); empty if it cannot be listed (a report without a directory of its own)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return {}
    found: dict[str, list[str]] = {}
    for name in names:
        stem, dot, _ = name.rpartition(".")
        if dot and stem:
            found.setdefault(stem, []).append(name)
    return found


def _plain_name(value: str) -> str | None:
    """``value`` if it can be the name of a file in a directory (no path, no NUL, not too long,
    not ``.`` or ``..``); None otherwise."""
    if not value or value in (".", "..") or "/" in value or "\0" in value:
        return None
    return value if len(value.encode("utf-8", "surrogateescape")) <= _NAME_MAX else None


def _first_file(directory: Path, names: Sequence[str | None]) -> Path | None:
    """The first of ``names`` that is a regular file whose real path lies directly in
    ``directory`` (itself a real path: a symbolic link anywhere on the way out is refused)."""
    for name in names:
        if name is None:
            continue
        try:
            resolved = (directory / name).resolve()
            if resolved.parent == directory and resolved.is_file():
                return resolved
        except (OSError, ValueError, RuntimeError):  # unreadable, refused, a link loop: not found
            continue
    return None


@dataclass
class _Batch:
    reports: list[PreparedReport] = field(default_factory=list)
    details: list[PreparedFile] = field(default_factory=list)
    rejected: list[tuple[Rejected, str, str]] = field(default_factory=list)
    pdq_hits: PDQHits = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.reports) + len(self.details) + len(self.rejected)


# File details held in memory at most while they wait for their report (about 1.5 kB each with
# their raw document, measured on generated fileDetails); an XML document (one record) beyond
# that is remembered by its position and read again at the end.
MAX_HELD_FILES = 250_000


@dataclass
class _Waiting:
    """File details read before their report: each is held until a report of its id is read,
    then goes into the batch right after it, so a file always finds its report whatever the
    order of the documents (each is parsed once). Details whose report is not read in this run
    (stored by an earlier run, or missing) go last, and so do XML documents read again because
    ``limit`` details were held (``limit`` None: every report has been read, nothing waits)."""

    limit: int | None
    seen: set[str] = field(default_factory=set)
    held: dict[str, list[PreparedFile]] = field(default_factory=dict)
    count: int = 0
    reread: list[int] = field(default_factory=list)

    def report(self, report: PreparedReport, batch: _Batch) -> None:
        self.seen.add(report.provider_report_id)
        files = self.held.pop(report.provider_report_id, ())
        self.count -= len(files)
        batch.details += files

    def file(self, file: PreparedFile, batch: _Batch, position: int | None) -> None:
        if self.limit is None or file.provider_report_id in self.seen:
            batch.details.append(file)
        elif self.count >= self.limit and position is not None:
            self.reread.append(position)
        else:
            self.held.setdefault(file.provider_report_id, []).append(file)
            self.count += 1

    def rest(self) -> list[PreparedFile]:
        """The details still held (their report was not read), emptied."""
        files = [file for files in self.held.values() for file in files]
        self.held.clear()
        self.count = 0
        return files


@_batched_collections()
def ingest(
    store: Store,
    paths: list[Path],
    *,
    source: str,
    writer_factory: Callable[[int, datetime], Writer],
    matcher: Matcher,
    options: TriageOptions,
    on_document: Callable[[int, int], None] | None = None,
    actor: audit.Actor | None = None,
) -> IngestSummary:
    """Read every document under ``paths`` and store it; returns what happened.

    With ``actor`` the run is audited twice: ``ingest.start`` in the transaction that opens the
    run, so that even a run killed halfway names who started it, and ``ingest.finish`` with the
    counts in the transaction that closes it. The batches between are not events of their own:
    the run's id on every stored report ties them to it."""
    documents, skipped, unreadable = discover(paths)
    started = datetime.now(UTC)
    with store.session() as session:
        run = IngestRun(
            source=source, started_at=started, reports_stored=0, reports_unchanged=0,
            files_stored=0, quarantined=0, matches=0,
        )  # fmt: skip
        session.add(run)
        session.flush()
        run_id = run.id
        if actor is not None:
            detail = {"source": source, "documents": str(len(documents))}
            audit.record(session, actor, "ingest.start", "ingest_run", str(run_id), detail)
        matcher.sync(session)
    summary = IngestSummary(run_id=run_id, source=source, skipped=skipped, unreadable=unreadable)
    writer = writer_factory(run_id, started)
    try:
        with (
            _interrupt_between_batches() as interrupt,
            _workers(documents, options, writer, matcher) as pool,
            bulk_transactions(store) as transaction,
        ):
            _ingest(
                transaction, documents, summary, writer, matcher, options, on_document, pool,
                interrupt,
            )  # fmt: skip
    except BrokenProcessPool as exc:
        raise SafeguardingError(
            "a parse worker stopped before every document was read (killed, or out of "
            "memory); the batches stored so far are kept: run the same ingest again to "
            "complete it"
        ) from exc
    finally:
        _close_archives()
    with store.session() as session:
        session.execute(
            update(IngestRun)
            .where(IngestRun.id == run_id)
            .values(
                finished_at=datetime.now(UTC), reports_stored=summary.reports_stored,
                reports_unchanged=summary.reports_unchanged, files_stored=summary.files_stored,
                quarantined=summary.quarantined, matches=summary.matches,
            )
        )  # fmt: skip
        if actor is not None:
            audit.record(
                session, actor, "ingest.finish", "ingest_run", str(run_id), _counts(summary)
            )
    return summary


def _counts(summary: IngestSummary) -> dict[str, str]:
    """What a finished run changed, for its audit event."""
    counted = {
        "reports_stored": summary.reports_stored,
        "reports_unchanged": summary.reports_unchanged,
        "files_stored": summary.files_stored,
        "files_unchanged": summary.files_unchanged,
        "matches": summary.matches,
        "rejected": summary.rejected,
        "quarantined": summary.quarantined,
    }
    return {name: str(value) for name, value in counted.items()}


class _Interrupt:
    """Ctrl-C (SIGINT) during a run, held until the batch being stored is committed: raised in
    the middle of a write, it left the database connection mid-statement (on PostgreSQL a
    pipeline that could not be closed, so the roll-back failed too and the command ended with
    the driver's error and a logged traceback instead of the interruption)."""

    def __init__(self) -> None:
        self.pending = False

    def __call__(self, signum: int, frame: object) -> None:
        self.pending = True

    def check(self) -> None:
        """Raises the held interruption, between batches."""
        if self.pending:
            raise KeyboardInterrupt


@contextmanager
def _interrupt_between_batches() -> Iterator[_Interrupt]:
    """SIGINT held by an ``_Interrupt`` for the run (the main thread only: a handler can only be
    set there; elsewhere nothing is held and nothing changes)."""
    interrupt = _Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return
    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)


def _ingest(
    transaction: Transactions,
    documents: list[Document],
    summary: IngestSummary,
    writer: Writer,
    matcher: Matcher,
    options: TriageOptions,
    on_document: Callable[[int, int], None] | None,
    pool: Executor | None,
    interrupt: _Interrupt,
) -> None:
    """The documents read (by the worker pool, if any) in ``_reading_order`` and stored batch
    by batch, file details after their report; an interruption ends it between batches."""
    intake = _Intake(
        transaction, documents, summary, writer, matcher, options, on_document, matcher.signature,
        interrupt,
    )  # fmt: skip
    order, details_from = _reading_order(documents, pool)
    parsed = _parsed(
        documents, order, options, pool, writer, matcher, details_from, on_wait=intake.store_batch
    )
    for chunk, result in parsed:
        interrupt.check()
        intake.take(chunk, result)
    intake.waiting.limit = None  # every report has been read: nothing waits any more
    for file in intake.waiting.rest():
        intake.add_file(file, None)
    reread = intake.waiting.reread
    parsed = _parsed(documents, reread, options, pool, writer, matcher, on_wait=intake.store_batch)
    for chunk, result in parsed:
        interrupt.check()
        intake.take(chunk, result, again=True)
    intake.flush()


@dataclass
class _Intake:
    """The records of a run on their way to the store: the batch being filled and the file
    details waiting for their report."""

    transaction: Transactions
    documents: list[Document]
    summary: IngestSummary
    writer: Writer
    matcher: Matcher
    options: TriageOptions
    on_document: Callable[[int, int], None] | None
    # What the run's PDQ hits were searched against (``Matcher.signature``, when it started).
    signature: frozenset[tuple[str, int]]
    interrupt: _Interrupt
    hits: PDQHits = field(default_factory=dict)  # the workers' PDQ hits of the run
    waiting: _Waiting = field(default_factory=lambda: _Waiting(limit=MAX_HELD_FILES))
    batch: _Batch = field(default_factory=_Batch)
    number: int = 0

    def take(self, chunk: list[int], result: ChunkResult, *, again: bool = False) -> None:
        """Puts what the documents at ``chunk`` were prepared to into batches (documents read
        ``again`` are not counted twice)."""
        results, hits = result
        self.hits.update(hits)
        for position, prepared in zip(chunk, results, strict=True):
            document = self.documents[position]
            for item in prepared:
                if isinstance(item, PreparedReport):
                    self.batch.reports.append(item)
                    self.waiting.report(item, self.batch)
                elif isinstance(item, PreparedFile):
                    self.add_file(item, position if document.format == "ncmec_xml" else None)
                else:
                    self.batch.rejected.append((item, document.format, document.location))
            if not again:
                self.summary.documents += 1
                self.number += 1
                if self.on_document is not None:
                    self.on_document(self.number, len(self.documents))
            if len(self.batch) >= self.options.batch_size:
                self.flush()

    def add_file(self, file: PreparedFile, position: int | None) -> None:
        """``position``: the file's document, if it can be read again (it holds one record)."""
        self.waiting.file(file, self.batch, position)
        if len(self.batch) >= self.options.batch_size:
            self.flush()

    def store_batch(self) -> None:
        """Stores the batch so far, if it holds anything (``_parsed`` calls it before taking
        each of the last workers' results)."""
        if len(self.batch):
            self.flush()

    def flush(self) -> None:
        self.batch.pdq_hits = self.hits
        _flush(
            self.transaction, self.writer, self.matcher, self.batch, self.summary, self.signature
        )
        self.batch = _Batch()
        gc.collect(1)  # the young generations, with what the stored batch left behind
        self.interrupt.check()


# The writer, matcher and documents of the run, in a parse worker (set when the worker starts):
# the worker turns its records into rows (digests, pseudonyms, values) and searches their PDQ
# hashes, so the one writing process does not have to. Tasks name documents by position.
_WORKER_STATE: list[tuple[Writer, Matcher, list[Document]]] = []
# Documents per task of a worker: the PDQ index costs a fixed overhead per search (at 1 M
# entries about 59 us per hash searched in groups of 43, 48 us in groups of 500 or more).
_CHUNK = 256
# Documents per task among the XML file details (read last): each brings about one PDQ hash and
# little else to do, so tasks are larger, paying a task's fixed costs (sending it, the search's
# per-call set-up) over more hashes.
_DETAILS_CHUNK = 4096


# Niceness of the parse workers: the one writing process is the pipeline's narrowest part, so the
# workers take the cores only when it does not need them.
_WORKER_NICENESS = 10


def _start_worker(writer: Writer, matcher: Matcher, documents: list[Document], parent: int) -> None:
    # Ctrl-C reaches every process of the terminal's group: the workers printed a traceback
    # each. The parent alone handles it; it shuts the workers down as it stops the run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Workers forget the parent's open archives: a shared file offset must not be raced on.
    _ARCHIVES.clear()
    gc.enable()  # the writing process collects between batches; a worker collects by itself
    os.nice(_WORKER_NICENESS)
    _WORKER_STATE[:] = [(writer, matcher, documents)]
    threading.Thread(
        target=_exit_with_parent, args=(parent,), name="exit-with-parent", daemon=True
    ).start()


# Seconds between a parse worker's looks at whether the process that forked it still runs.
_PARENT_CHECK_EVERY = 0.5


def _exit_with_parent(parent: int) -> None:
    """Ends this parse worker once its parent is gone (killed: no one tells the workers). An
    executor's worker would otherwise wait for tasks forever, holding what it inherited: the
    parent's database connections among them, whose open transaction then blocks the next run
    on PostgreSQL."""
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_EVERY)
    os._exit(1)


def _worker_count(options: TriageOptions) -> int:
    return min(options.parse_workers, os.cpu_count() or 1)


@contextmanager
def _workers(
    documents: list[Document], options: TriageOptions, writer: Writer, matcher: Matcher
) -> Iterator[Executor | None]:
    """Worker processes that parse and prepare documents, when there are enough
    documents to be worth it (the parent keeps writing to the store meanwhile); None
    otherwise. The workers are forked after the matcher is in step with the lists, so the
    writer's keys, the PDQ index (memory-mapped, shared) and the list of documents reach them
    without being sent.

    An executor rather than ``multiprocessing.Pool``: a worker that dies (killed, out of
    memory) makes the run fail (``BrokenProcessPool``), where the pool waited for it forever;
    and the pool's worker-maintenance thread woke whenever a result waited in the result pipe
    (1.3 CPU-seconds of one 100,000-report run). On leaving, documents not yet started are
    cancelled: a failed run does not wait for the rest of the archive to be parsed. Workers
    end by themselves when the parent is killed (``_exit_with_parent``)."""
    workers = _worker_count(options)
    if workers <= 1 or len(documents) < _PARALLEL_FROM:
        yield None
        return
    matcher.load_search()
    gc.freeze()  # the documents too: the workers never scan (and so copy) their pages
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(writer, matcher, documents, os.getpid()),
    )
    try:
        # The executor forks its workers with the first task: here, before the caller starts
        # any thread of its own (a child forked beside a running thread may inherit its locks).
        pool.submit(int).result()
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# Bytes of an XML document looked at to tell file details from reports, documents looked at per
# task of a worker, and documents looked at per name shape before the shape is trusted.
_HEAD_BYTES = 256
_LOOK_CHUNK = 4096
_SAMPLE = 16
_DIGITS = b"0123456789"


def _reading_order(documents: list[Document], pool: Executor | None) -> tuple[list[int], int]:
    """The positions of the documents in the order they are read, and where the file details
    begin in it: with parse workers, NCMEC file details after every other document (each part
    in name order). Reports are then stored while the workers parse, and file details find
    their report stored. In name order the writing process would wait idle while the workers
    parse details named before their reports (``file-…`` before ``report-…``), then store
    everything alone.

    File details are told apart by a look at a document's first bytes in the workers (about
    5 us each, but a second or more for an archive of 300,000 while the writing process waits).
    Exports name their documents by kind and number, so documents whose names differ only in
    their digits are taken to be of one kind when a sample of ``_SAMPLE`` of them agrees; where
    the sample is mixed, each is looked at. A wrong guess costs time, never correctness: a
    detail read before its report waits for it."""
    everything = range(len(documents))
    if pool is None:
        return list(everything), len(documents)
    shapes: dict[bytes, list[int]] = {}
    xml = []
    for position in everything:
        document = documents[position]
        if document.format == "ncmec_xml":
            # Bytes' translate: a tenth of the time of str's, for 300,000 names in a row.
            shape = document.location.encode().translate(None, _DIGITS)
            shapes.setdefault(shape, []).append(position)
            xml.append(position)
    samples = [group[:: -(-len(group) // _SAMPLE)] for group in shapes.values()]
    details = _details_among([position for sample in samples for position in sample], pool)
    mixed: list[int] = []
    for group, sample in zip(shapes.values(), samples, strict=True):
        agreeing = sum(position in details for position in sample)
        if agreeing == len(sample):
            details.update(group)
        elif agreeing:
            looked = set(sample)
            mixed += [position for position in group if position not in looked]
    details.update(_details_among(mixed, pool))
    others = [p for p in everything if p not in details]
    return others + [p for p in xml if p in details], len(others)


def _details_among(positions: list[int], pool: Executor) -> set[int]:
    """The positions, among ``positions``, of XML documents that look like file details."""
    chunks = [
        positions[begin : begin + _LOOK_CHUNK] for begin in range(0, len(positions), _LOOK_CHUNK)
    ]
    details: set[int] = set()
    for chunk, kinds in zip(chunks, pool.map(_look_chunk, chunks), strict=True):
        details.update(position for position, kind in zip(chunk, kinds, strict=True) if kind)
    return details


def _look_chunk(positions: list[int]) -> bytes:
    """In a parse worker: 1 for each document at ``positions`` that looks like file details."""
    documents = _WORKER_STATE[0][2]
    return bytes(
        ncmec_xml.sniff_root(documents[position].head(_HEAD_BYTES)) == "fileDetails"
        for position in positions
    )


def _prepare_chunk(
    documents: list[Document],
    options: TriageOptions,
    writer: Writer,
    matcher: Matcher,
    threads: int | None,
) -> ChunkResult:
    """Documents parsed and prepared as rows for the writer, and the PDQ hashes of their files
    searched (all at once: the index costs a fixed overhead per search).

    Each step runs over a group of documents before the next: all are read, then all parsed,
    then all prepared. Taking each document through every step in turn kept none of the steps'
    code warm in the processor's caches: parsing and preparing took a quarter more CPU. A
    group holds at most ``_GROUP_BYTES`` of input (or one larger document), so that large
    JSON Lines or CSV files are not all held at once."""
    results: list[list[Prepared]] = []
    for group in _groups(documents):
        data = [read_document(document, options) for document in group]
        parsed = [parse(document, b, options) for document, b in zip(group, data, strict=True)]
        del data  # a record keeps what it needs of its input
        results += [writer.prepare(items) for items in parsed]
    minimum = matcher.options.pdq_min_quality
    values = [
        value for prepared in results for item in prepared for value in pdq_values(item, minimum)
    ]
    return results, matcher.search_pdq(values, threads=threads)


# Bytes of input a parse step takes at once (``_prepare_chunk``).
_GROUP_BYTES = 16_000_000


def _groups(documents: list[Document]) -> Iterator[list[Document]]:
    """The documents in order, in groups of at most ``_GROUP_BYTES`` (a larger document alone)."""
    group: list[Document] = []
    size = 0
    for document in documents:
        if group and size + document.size > _GROUP_BYTES:
            yield group
            group, size = [], 0
        group.append(document)
        size += document.size
    if group:
        yield group


def _read_chunk(positions: list[int], options: TriageOptions) -> bytes:
    """``_prepare_chunk`` in a parse worker, of the run's documents at ``positions``, as the
    writing process reads it (``transport``)."""
    writer, matcher, documents = _WORKER_STATE[0]
    documents = [documents[p] for p in positions]
    return transport.encode(_prepare_chunk(documents, options, writer, matcher, threads=1))


def _parsed(
    documents: list[Document],
    positions: list[int],
    options: TriageOptions,
    pool: Executor | None,
    writer: Writer,
    matcher: Matcher,
    details_from: int | None = None,
    *,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[tuple[list[int], ChunkResult]]:
    """The documents at ``positions`` in chunks, each with what its documents were prepared
    to; from ``details_from`` on (the file details), in chunks of ``_DETAILS_CHUNK``.

    With workers, ``on_wait`` is called before taking each of the last results (one per
    worker), when every chunk has been handed to a worker: as the workers run out of chunks,
    their cores would otherwise stand idle while the writing process waits, and then stores
    the last batch alone (half a second at the end of a 100,000-report run). It is called
    there whether or not the result is ready, so that where batches end never depends on
    timing (the flood guard judges the recent files as each batch is stored). A result is let
    go as soon as it is taken, as ``Executor.map`` does: kept, a run's results would all be held
    to its end."""
    split = len(positions) if details_from is None else details_from
    chunks = [positions[begin : min(begin + _CHUNK, split)] for begin in range(0, split, _CHUNK)]
    chunks += [
        positions[begin : begin + _DETAILS_CHUNK]
        for begin in range(split, len(positions), _DETAILS_CHUNK)
    ]
    if pool is None:
        prepare = partial(
            _prepare_chunk, options=options, writer=writer, matcher=matcher, threads=None
        )
        for chunk in chunks:
            yield chunk, prepare([documents[p] for p in chunk])
        return
    pending = [pool.submit(_read_chunk, chunk, options) for chunk in chunks]
    pending.reverse()  # taken from the end
    workers = _worker_count(options)
    try:
        for chunk in chunks:
            if on_wait is not None and len(pending) <= workers:
                on_wait()
            yield chunk, transport.decode(pending.pop().result())
    finally:
        for future in pending:  # a pass that stops early leaves nothing queued behind it
            future.cancel()


def _flush(
    transaction: Transactions,
    writer: Writer,
    matcher: Matcher,
    batch: _Batch,
    summary: IngestSummary,
    signature: frozenset[tuple[str, int]],
) -> None:
    """Stores the batch in one transaction. Its new hashes are matched against the lists as
    they are in that transaction: the matcher is refreshed first (``Matcher.refresh``: one
    row read unless a list changed), and the batch's PDQ hits, searched against the index as
    it was when the run started (``signature``), are used only if the searched segments are
    still those; after a list change the hashes are searched again here."""
    if not len(batch):
        return
    with transaction() as session:
        result = writer.write_prepared(session, batch.reports, batch.details)
        rejected = list(batch.rejected)
        formats = {r.origin[0]: r.format for r in batch.reports}
        for item in result.rejected:
            fmt = formats.get(item.location, "ncmec_xml")
            rejected.append((item, fmt, item.location.split(":", 1)[0]))
        for item, fmt, location in rejected:
            summary.rules[item.rule] = summary.rules.get(item.rule, 0) + 1
            summary.rejected += 1
            summary.quarantined += record_rejections(
                session, writer.sealer, [item], source=writer.source, format=fmt,
                source_file=location,
            )  # fmt: skip
        matcher.refresh(session)
        hits = batch.pdq_hits if matcher.signature == signature else None
        found = matcher.find_hashes(session, result.new_hashes, pdq_hits=hits)
        summary.matches += matcher.store(session, found)
    summary.reports_stored += result.reports_stored
    summary.reports_unchanged += result.reports_unchanged
    summary.files_stored += result.files_stored
    summary.files_unchanged += result.files_unchanged
