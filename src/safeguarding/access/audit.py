"""The audit log: who did or saw what, when, and from where, append-only and tamper-evident.

Every read of a sensitive record (a report, a subject) and every change is one event. Events form a
hash chain: event *n* stores ``sha256(hash(n-1) + canonical(n))``, and the single ``audit_head`` row
stores the last sequence number and hash. Appending locks the head row first, so concurrent writers
(web workers, CLI commands) queue up and the chain never forks. ``verify`` recomputes the chain and
names each event that was edited or removed behind the system's back; it cannot stop someone with
write access to the database from rewriting the whole chain, which is why ``export`` exists: an
exported copy (or just the head hash) kept elsewhere pins the history up to that point.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TextIO, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from safeguarding.errors import StoreError, ValidationError
from safeguarding.store.models.access import AuditEventRow, AuditHeadRow

GENESIS = "0" * 64
# The role of an actor at this machine's command line (who holds the database itself).
CLI_ROLE = "cli"
HEAD_ID = 1
EXPORT_FIELDS = (
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "target_kind",
    "target_id",
    "ip",
    "detail",
    "prev_hash",
    "hash",
)
ExportFormat = Literal["jsonl", "csv"]
_HEAD = cast(Table, AuditHeadRow.__table__)
_EVENTS = cast(Table, AuditEventRow.__table__)


@dataclass(frozen=True)
class Actor:
    """Who acts: an account name and role, the address the request came from, and the credential
    it used (``via``: ``"session"``, ``"token <id>"``, ``"password"`` for a sign-in).

    ``via`` is what tells an account's own work from work done with a token someone else was given
    for it, so the web app always sets it; it is stored in the event's ``detail`` (under ``"via"``),
    which the chain hashes, so it cannot be edited unnoticed either. Commands leave it empty: their
    actor (``os:<user>``) already names the person at the machine.
    """

    name: str
    role: str
    ip: str
    via: str = ""


def cli_actor() -> Actor:
    """The operating-system user running a command on this machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(name=f"os:{user}", role=CLI_ROLE, ip="local")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(event: Mapping[str, object]) -> str:
    """The hashed form of an event: its content fields as compact JSON with sorted keys."""
    content = {name: event[name] for name in EXPORT_FIELDS if name not in {"prev_hash", "hash"}}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, event: Mapping[str, object]) -> str:
    return hashlib.sha256((prev_hash + canonical(event)).encode("utf-8")).hexdigest()


def _row_dict(row: AuditEventRow) -> dict[str, object]:
    return {name: getattr(row, name) for name in EXPORT_FIELDS}


@dataclass(frozen=True)
class Event:
    """One event to append: who did what to which record, with a few details."""

    actor: Actor
    action: str
    target_kind: str = ""
    target_id: str = ""
    detail: Mapping[str, str] | None = None


def record(
    session: Session,
    actor: Actor,
    action: str,
    target_kind: str = "",
    target_id: str = "",
    detail: Mapping[str, str] | None = None,
) -> str:
    """Append one event in ``session``'s transaction (it commits or rolls back with the change);
    returns the event's hash."""
    return record_many(session, [Event(actor, action, target_kind, target_id, detail)])[0]


def record_many(session: Session, events: Sequence[Event]) -> list[str]:
    """Append events in order in ``session``'s transaction, each chained to the one before;
    returns their hashes.

    The head row is updated first, which takes the write lock (a row lock on PostgreSQL, the
    database lock on SQLite) before the previous hash is read, so appenders are serialised. Plain
    Core statements on the session's connection: three round trips however many events, because
    every audited request pays for them and a group of submissions appends one event each.
    """
    if not events:
        return []
    connection = session.connection()
    locked = connection.execute(
        _HEAD.update()
        .where(_HEAD.c.id == HEAD_ID)
        .values(seq=_HEAD.c.seq + len(events))
        .returning(_HEAD.c.seq, _HEAD.c.hash)
    ).one_or_none()
    if locked is None:
        raise StoreError("the audit log has no head row; run: safeguarding db upgrade")
    seq, prev_hash = int(locked[0]) - len(events), str(locked[1])
    rows: list[dict[str, object]] = []
    for item in events:
        seq += 1
        detail = dict(item.detail or {})
        if item.actor.via:
            detail["via"] = item.actor.via[:64]  # the credential, never a caller's own "via"
        event: dict[str, object] = {
            "seq": seq,
            "at": _now(),
            "actor": item.actor.name[:120],
            "role": item.actor.role[:32],
            "action": item.action[:64],
            "target_kind": item.target_kind[:32],
            "target_id": item.target_id[:200],
            "ip": item.actor.ip[:64],
            "detail": json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        }
        digest = chain_hash(prev_hash, event)
        rows.append({**event, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    connection.execute(_EVENTS.insert(), rows)
    connection.execute(_HEAD.update().where(_HEAD.c.id == HEAD_ID).values(hash=prev_hash))
    return [str(row["hash"]) for row in rows]


@dataclass(frozen=True)
class Problem:
    """One break in the chain, naming the event (sequence number) it concerns."""

    seq: int
    kind: Literal["edited", "deleted", "relinked", "truncated"]
    message: str


@dataclass(frozen=True)
class Verification:
    """A chain checked: how many events, the head (the last event's sequence number and hash,
    to compare with a copy kept elsewhere) and the problems found."""

    checked: int
    head_seq: int
    problems: tuple[Problem, ...]
    head_hash: str = GENESIS

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, *, batch: int = 5000) -> Verification:
    """Recompute the chain from the first event and report every edited or missing event."""
    head = session.get(AuditHeadRow, HEAD_ID)
    if head is None:
        raise StoreError("the audit log has no head row; run: safeguarding db upgrade")
    rows = session.execute(select(AuditEventRow).order_by(AuditEventRow.seq)).scalars()
    checked, last, prev_hash, problems = _check_chain(
        _row_dict(row) for row in rows.yield_per(batch)
    )
    if head.seq > last:
        missing = f"event {head.seq}" if head.seq == last + 1 else f"events {last + 1}–{head.seq}"
        problems.append(
            Problem(last + 1, "truncated", f"{missing} deleted (the chain head names {head.seq})")
        )
    elif head.seq == last and head.hash != prev_hash:
        problems.append(
            Problem(last, "edited", f"event {last} does not match the hash held by the chain head")
        )
    return Verification(checked, head.seq, tuple(problems), head_hash=head.hash)


def verify_export(events: Iterable[Mapping[str, object]]) -> Verification:
    """Recompute the chain of an exported file's events (``read_export``) from the first: an
    edited or missing event is named as ``verify`` names it in the store. What follows the
    file's last event cannot be known from the file: its head is returned, to be compared with
    one kept elsewhere."""
    checked, last, prev_hash, problems = _check_chain(events)
    return Verification(checked, last, tuple(problems), head_hash=prev_hash)


def _check_chain(
    events: Iterable[Mapping[str, object]],
) -> tuple[int, int, str, list[Problem]]:
    """Events in sequence order checked against each other and their hashes; returns how many,
    the last sequence number and hash, and the problems found."""
    problems: list[Problem] = []
    expected_seq, prev_hash, checked = 1, GENESIS, 0
    for event in events:
        checked += 1
        seq, event_prev, event_hash = int(str(event["seq"])), event["prev_hash"], event["hash"]
        if seq != expected_seq:
            missing = (
                f"event {expected_seq}"
                if seq == expected_seq + 1
                else f"events {expected_seq}–{seq - 1}"
            )
            problems.append(
                Problem(expected_seq, "deleted", f"{missing} deleted (the chain jumps to {seq})")
            )
        elif event_prev != prev_hash:
            problems.append(
                Problem(
                    seq,
                    "relinked",
                    f"event {seq} does not link to event {seq - 1}: "
                    f"its previous-hash or event {seq - 1}'s hash was changed",
                )
            )
        if chain_hash(str(event_prev), event) != event_hash:
            problems.append(
                Problem(
                    seq, "edited", f"event {seq} was edited: its content does not match its hash"
                )
            )
        expected_seq, prev_hash = seq + 1, str(event_hash)
    return checked, expected_seq - 1, prev_hash, problems


def read_export(handle: TextIO, name: str) -> Iterator[dict[str, object]]:
    """The events of an exported file, JSON Lines or CSV (told apart by the first character),
    in the form they were hashed in (``canonical``): ``seq`` a whole number, the other fields
    text. A line that is not an event is refused, naming the file and line."""
    first = handle.read(1)
    handle.seek(0)
    if first == "{":
        for number, line in enumerate(handle, start=1):
            try:
                event = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValidationError(
                    f"{name}:{number}: not JSON ({exc.msg})", location=f"{name}:{number}",
                    rule="bad_json",
                ) from exc  # fmt: skip
            yield _exported(event, name, number)
        return
    reader = csv.DictReader(handle)
    if tuple(reader.fieldnames or ()) != EXPORT_FIELDS:
        raise ValidationError(
            f"{name}:1: not an audit export: the columns must be {','.join(EXPORT_FIELDS)}",
            location=f"{name}:1",
            rule="not_an_export",
        )
    for row in reader:
        yield _exported(row, name, reader.line_num)


def _exported(event: object, name: str, number: int) -> dict[str, object]:
    if not isinstance(event, dict) or set(event) != set(EXPORT_FIELDS):
        raise ValidationError(
            f"{name}:{number}: not an audit event: the fields must be {', '.join(EXPORT_FIELDS)}",
            location=f"{name}:{number}",
            rule="not_an_event",
        )
    seq = str(event["seq"])
    if not (seq.isascii() and seq.isdigit()):
        raise ValidationError(
            f"{name}:{number}: seq must be a whole number",
            location=f"{name}:{number}",
            rule="not_an_event",
        )
    return {field: int(seq) if field == "seq" else str(event[field]) for field in EXPORT_FIELDS}


def events(
    session: Session,
    *,
    before_seq: int | None = None,
    limit: int = 100,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
) -> list[AuditEventRow]:
    """The newest events first, optionally before a sequence number and filtered."""
    query = select(AuditEventRow).order_by(AuditEventRow.seq.desc()).limit(limit)
    if before_seq is not None:
        query = query.where(AuditEventRow.seq < before_seq)
    if actor:
        query = query.where(AuditEventRow.actor == actor)
    if action:
        query = query.where(AuditEventRow.action == action)
    if target:
        query = query.where(AuditEventRow.target_id == target)
    return list(session.scalars(query))


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEventRow)) or 0)


ReadSession = Callable[[], AbstractContextManager[Session]]
EXPORT_BATCH = 5000


def head_seq(session: Session) -> int:
    """The sequence number of the last event appended: an export up to it is the log as it
    stands now (0 for an empty log)."""
    return int(session.scalar(select(_HEAD.c.seq).where(_HEAD.c.id == HEAD_ID)) or 0)


def record_export(session: Session, actor: Actor, fmt: ExportFormat) -> int:
    """Append the ``audit.export`` event and return its sequence number, the last event the
    export will hold.

    The caller commits at once, before reading: the append locks the head, so an export that
    read in the same transaction kept every audited action waiting for it."""
    record(session, actor, "audit.export", "audit", "", {"format": fmt})
    return head_seq(session)


def export_batches(
    read: ReadSession, through: int, *, batch: int = EXPORT_BATCH
) -> Iterator[list[dict[str, object]]]:
    """Every event up to sequence number ``through``, oldest first, ``batch`` at a time.

    Each batch is read in a short read-only transaction of its own (``read`` opens one), keyed
    on the last sequence number sent, so a slow consumer (a pager, a slow download) holds no
    transaction open between batches. Events up to ``through`` were committed before the export
    began and are never changed, so the batches together are the log as it stood then; events
    appended meanwhile are left out."""
    after = 0
    while after < through:
        with read() as session:
            rows = session.execute(
                select(*(_EVENTS.c[name] for name in EXPORT_FIELDS))
                .where(_EVENTS.c.seq > after, _EVENTS.c.seq <= through)
                .order_by(_EVENTS.c.seq)
                .limit(batch)
            ).all()
        if not rows:
            return
        yield [dict(zip(EXPORT_FIELDS, row, strict=True)) for row in rows]
        after = int(rows[-1][0])


def _text(events: Sequence[Mapping[str, object]], fmt: ExportFormat, *, header: bool) -> str:
    """Events in the export format: CSV rows (after the header row if asked), or JSON Lines."""
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.DictWriter(buffer, fieldnames=list(EXPORT_FIELDS))
        if header:
            writer.writeheader()
        writer.writerows(events)
    else:
        for event in events:
            buffer.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
    return buffer.getvalue()


def export_text(
    read: ReadSession, fmt: ExportFormat, through: int, *, batch: int = EXPORT_BATCH
) -> Iterator[str]:
    """The export as text, a piece per batch read, for a response that streams it."""
    yield _text([], fmt, header=True)
    for events in export_batches(read, through, batch=batch):
        yield _text(events, fmt, header=False)


def export(
    read: ReadSession,
    out: TextIO,
    fmt: ExportFormat,
    through: int,
    *,
    batch: int = EXPORT_BATCH,
) -> int:
    """Write every event up to ``through``, oldest first, with its hashes, each batch as soon as
    it is read; returns the number written."""
    out.write(_text([], fmt, header=True))
    written = 0
    for events in export_batches(read, through, batch=batch):
        out.write(_text(events, fmt, header=False))
        written += len(events)
    return written
