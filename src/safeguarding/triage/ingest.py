"""Ingest: find the documents under the given paths, read them, store them batch by batch.

Paths may be files, directories (read recursively, in name order) or .zip archives. The format
follows the extension: ``.xml`` NCMEC CyberTipline, ``.jsonl``/``.ndjson`` the project's JSON
Lines, ``.csv`` simple CSV. Report documents are read before ``<fileDetails>`` documents, so a file
always finds its report, whatever the order of the names.

Each batch (``batch_size`` records) is one transaction: its reports, files, hashes, matches and
quarantine records commit together or not at all. A run that is killed keeps the batches it
committed; running it again skips what is stored (same digest) and completes the rest, ending in
the same state as an uninterrupted run.
"""

from __future__ import annotations

import multiprocessing
import os
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from multiprocessing.pool import Pool
from pathlib import Path, PurePath

from sqlalchemy import update

from safeguarding.errors import ValidationError
from safeguarding.hashing.files import FileDigest, hash_file
from safeguarding.store import Store
from safeguarding.store.models import IngestRun
from safeguarding.triage.formats import csv as csv_format
from safeguarding.triage.formats import jsonl, ncmec_xml
from safeguarding.triage.matching import Matcher
from safeguarding.triage.options import TriageOptions
from safeguarding.triage.quarantine import record_rejections
from safeguarding.triage.records import (
    FileDetailsRecord,
    FileRecord,
    Parsed,
    Rejected,
    ReportRecord,
)
from safeguarding.triage.writer import Writer

_PARALLEL_FROM = 500
FORMATS = {".xml": "ncmec_xml", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
MAX_ARCHIVE_MEMBERS = 1_000_000
MAX_TABULAR_BYTES = 2_000_000_000


@dataclass(frozen=True)
class Document:
    """One input document: where it is, its format and size. Plain values, so that worker
    processes can read and parse documents in parallel."""

    location: str
    format: str
    path: str
    member: str | None
    size: int

    def read(self, limit: int | None = None) -> bytes:
        """The document's bytes (at most ``limit``; a zip member at most its declared size + 1,
        so a member that lies about its size is cut off and refused as too large)."""
        if self.member is None:
            with open(self.path, "rb") as handle:
                return handle.read(-1 if limit is None else limit)
        archive = _ARCHIVES.get(self.path)
        if archive is None:
            archive = _ARCHIVES[self.path] = zipfile.ZipFile(self.path)
        with archive.open(self.member) as handle:
            return handle.read(self.size + 1 if limit is None else limit)


# Open archives of this process (workers open their own).
_ARCHIVES: dict[str, zipfile.ZipFile] = {}


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
    rules: dict[str, int] = field(default_factory=dict)


def _file_document(path: Path) -> Document | None:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        return None
    return Document(str(path), fmt, str(path), None, path.stat().st_size)


def _archive_documents(path: Path, skipped: list[str]) -> Iterator[Document]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValidationError(
            f"{path}: not a readable zip archive ({exc})", rule="bad_archive"
        ) from exc
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise ValidationError(
            f"{path}: {len(members)} members, at most {MAX_ARCHIVE_MEMBERS}",
            rule="archive_too_large",
        )
    for member in sorted(members, key=lambda m: m.filename):
        fmt = FORMATS.get(PurePath(member.filename).suffix.lower())
        location = f"{path}!{member.filename}"
        if fmt is None:
            skipped.append(location)
            continue
        yield Document(location, fmt, str(path), member.filename, member.file_size)


def discover(paths: list[Path]) -> tuple[list[Document], list[str]]:
    """Every document under ``paths`` (in a stable order) and the files skipped."""
    documents: list[Document] = []
    skipped: list[str] = []
    for path in paths:
        if not path.exists():
            raise ValidationError(f"{path}: no such file or directory", rule="missing_path")
        candidates = (
            sorted(
                (p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")),
                key=str,
            )
            if path.is_dir()
            else [path]
        )
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
    return documents, skipped


def parse(document: Document, options: TriageOptions) -> list[Parsed]:
    """What one document holds; a document over its size limit is refused unread (an XML
    document is one report; JSON Lines and CSV files hold many and may be larger)."""
    limit = options.max_document_bytes if document.format == "ncmec_xml" else MAX_TABULAR_BYTES
    if document.size > limit:
        return [
            Rejected(
                document.location, "document_too_large",
                f"{document.location}: {document.size} bytes, at most {limit} allowed", b"",
            )
        ]  # fmt: skip
    data = document.read()
    if document.format == "ncmec_xml":
        return [
            ncmec_xml.parse_document(data, document.location, max_bytes=options.max_document_bytes)
        ]
    if document.format == "jsonl":
        return jsonl.parse_lines(data, document.location)
    return csv_format.parse_csv(data, document.location)


def _is_details(document: Document) -> bool:
    """Whether a document is an XML ``<fileDetails>`` (sniffed from its first bytes)."""
    return (
        document.format == "ncmec_xml"
        and ncmec_xml.sniff_root(document.read(4096)) == "fileDetails"
    )


def _reports_first(documents: list[Document], pool: Pool | None) -> list[Document]:
    """Report documents before file details (the sniffing is shared by the workers, if any)."""
    details = (
        pool.imap(_is_details, documents, chunksize=256)
        if pool is not None
        else map(_is_details, documents)
    )
    first: list[Document] = []
    later: list[Document] = []
    for document, is_details in zip(documents, details, strict=True):
        (later if is_details else first).append(document)
    return first + later


def media_lookup(directory: Path, max_pixels: int) -> Callable[[FileRecord], FileDigest | None]:
    """Finds a file's media in ``directory`` by its file name or its file id, and hashes it."""
    root = directory.resolve()

    def lookup(file: FileRecord) -> FileDigest | None:
        names = [PurePath(file.file_name).name] if file.file_name else []
        names.append(PurePath(file.provider_file_id).name)
        for name in names:
            candidate = (root / name).resolve()
            if candidate.parent == root and candidate.is_file():
                return hash_file(candidate, max_pixels=max_pixels)
        matches = sorted(root.glob(f"{PurePath(file.provider_file_id).name}.*"))
        return hash_file(matches[0], max_pixels=max_pixels) if matches else None

    return lookup


@dataclass
class _Batch:
    reports: list[ReportRecord] = field(default_factory=list)
    details: list[FileDetailsRecord] = field(default_factory=list)
    rejected: list[tuple[Rejected, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.reports) + len(self.details) + len(self.rejected)


def ingest(
    store: Store,
    paths: list[Path],
    *,
    source: str,
    writer_factory: Callable[[int, datetime], Writer],
    matcher: Matcher,
    options: TriageOptions,
    on_document: Callable[[int, int], None] | None = None,
) -> IngestSummary:
    """Read every document under ``paths`` and store it; returns what happened."""
    documents, skipped = discover(paths)
    with _workers(len(documents), options) as pool:
        return _ingest(store, documents, skipped, source, writer_factory, matcher, options,
                       on_document, pool)  # fmt: skip


def _ingest(
    store: Store,
    documents: list[Document],
    skipped: list[str],
    source: str,
    writer_factory: Callable[[int, datetime], Writer],
    matcher: Matcher,
    options: TriageOptions,
    on_document: Callable[[int, int], None] | None,
    pool: Pool | None,
) -> IngestSummary:
    """``ingest`` with the worker pool (or None) open."""
    documents = _reports_first(documents, pool)
    started = datetime.now(UTC)
    with store.session() as session:
        run = IngestRun(
            source=source, started_at=started, reports_stored=0, reports_unchanged=0,
            files_stored=0, quarantined=0, matches=0,
        )  # fmt: skip
        session.add(run)
        session.flush()
        run_id = run.id
        matcher.sync(session)
    summary = IngestSummary(run_id=run_id, source=source, skipped=skipped)
    writer = writer_factory(run_id, started)
    batch = _Batch()
    for number, (document, parsed) in enumerate(_parsed(documents, options, pool), start=1):
        for item in parsed:
            if isinstance(item, ReportRecord):
                batch.reports.append(item)
            elif isinstance(item, FileDetailsRecord):
                batch.details.append(item)
            else:
                batch.rejected.append((item, document.format, document.location))
        summary.documents += 1
        if len(batch) >= options.batch_size:
            _flush(store, writer, matcher, batch, summary)
            batch = _Batch()
        if on_document is not None:
            on_document(number, len(documents))
    _flush(store, writer, matcher, batch, summary)
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
    return summary


@contextmanager
def _workers(documents: int, options: TriageOptions) -> Iterator[Pool | None]:
    """Worker processes that sniff and parse documents, when there are enough documents to be
    worth it (the parent keeps writing to the store meanwhile); None otherwise."""
    workers = min(options.parse_workers, os.cpu_count() or 1)
    if workers <= 1 or documents < _PARALLEL_FROM:
        yield None
        return
    context = multiprocessing.get_context("fork")
    # Workers forget the parent's open archives: a shared file offset must not be raced on.
    with context.Pool(workers, initializer=_ARCHIVES.clear) as pool:
        yield pool


def _parsed(
    documents: list[Document], options: TriageOptions, pool: Pool | None
) -> Iterator[tuple[Document, list[Parsed]]]:
    """Each document with what it parsed to, in order."""
    read = partial(parse, options=options)
    results = pool.imap(read, documents, chunksize=64) if pool is not None else map(read, documents)
    yield from zip(documents, results, strict=True)


def _flush(
    store: Store, writer: Writer, matcher: Matcher, batch: _Batch, summary: IngestSummary
) -> None:
    if not len(batch):
        return
    with store.session() as session:
        result = writer.write(session, batch.reports, batch.details)
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
        found = matcher.find(session, result.new_file_ids)
        summary.matches += matcher.store(session, found, len(result.new_file_ids))
    summary.reports_stored += result.reports_stored
    summary.reports_unchanged += result.reports_unchanged
    summary.files_stored += result.files_stored
    summary.files_unchanged += result.files_unchanged
