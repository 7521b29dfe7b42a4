"""Reading triage's inputs from the store: in full, or only what was stored since the last run.

Read: reports with their annotations, the reported user's age and priorCTReports, victims, files
with their annotations and classification, exact and PDQ hashes (PDQ usable for clustering only at
or above the minimum quality and not of a flat picture), list matches (known or allow) and the
reported user's pseudonymised identifiers (ESP id with its service, or its provider without one,
email, phone, screen name, IP with its capture time). Nothing is read in clear that was not
already stored pseudonymised; media are never involved.

Incremental read: the last run left its columns in the input cache (``triage.input_cache``) with
watermarks, the highest id of every source table and a tally that shows whether any row at or
below it went away (``_Mark``: the row count on PostgreSQL, the deletions counted by triggers on
SQLite). Stored rows are only ever added, with growing ids; so when every table's tally is
unchanged, and every new file, hash, party and identifier belongs to a new report or file, the
cache plus the new rows is exactly what a full read would give. Matches of stored files
change when a list is imported or removed (retroactive matching), which changes the lists' ids,
versions or import times (``list_signature``): then every match is read again (a cheap part of
the store), otherwise only the matches above their watermark, those of newly ingested files.
Anything else (a row deleted, a row added to an earlier report, other settings, another schema
version, a cache missing, damaged or older than the last run) makes the run read everything, say
why, and cluster afresh. Ids are assumed never to be reused for other rows (the application never
deletes reports, files, hashes or identifiers; a deletion shows in the tallies).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from alembic.runtime.migration import MigrationContext
from sqlalchemy import BigInteger, cast, extract, func, select
from sqlalchemy.orm import Session

from safeguarding.hashing.pdq_bits import hex_to_words, informative
from safeguarding.store.models import (
    FileCluster,
    FileHash,
    HashList,
    HashListEntry,
    HashMatch,
    PartyIdentifier,
    PriorityDecision,
    ProviderReport,
    ReportedFile,
    ReportParty,
    RowDeletions,
    TriageRun,
)
from safeguarding.triage.cluster_content import ContentIndex
from safeguarding.triage.cluster_subjects import SubjectIndex
from safeguarding.triage.engine import Kept, Previous
from safeguarding.triage.input_cache import (
    CacheUnusableError,
    StoredColumns,
    read_cache,
    read_meta,
)
from safeguarding.triage.keys import KeyDictionary, keys128
from safeguarding.triage.listformats import NON_PERTINENT
from safeguarding.triage.policy import LEVEL_CODE
from safeguarding.triage.records import IP_NOT_GLOBAL
from safeguarding.triage.run_options import RunOptions
from safeguarding.triage.tables import (
    ACCOUNT_ID,
    OTHER,
    REPORT_SIGNALS,
    SCREEN_NAME,
    UNASSIGNED,
    FileTable,
    IdentifierTable,
    ReportTable,
)
from safeguarding.triage.unionfind import IntArray, sorted_positions

ENTICEMENT = "Online Enticement of Children for Sexual Acts"
CONTACT_OFFENCE = "Child Sexual Molestation"  # hands-on abuse: the user has access to a child
LINKING_KINDS = ("esp_id", "email", "phone", "screen_name", "ip")
# Kinds that name a user only within a service: an account id or a screen name.
SERVICE_KINDS = ("esp_id", "screen_name")
UNKNOWN_PROVIDER = "(unknown provider)"
EXACT_KINDS = ("md5", "sha1", "sha256")
# The digests of an empty file. A file that failed to upload or was cut to nothing carries them
# whatever it showed, so they say nothing of its content: three users who each sent one were one
# content cluster and one work item. They link nothing (list matching reads hashes itself).
EMPTY_FILE_DIGESTS = (
    "d41d8cd98f00b204e9800998ecf8427e",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
)
# File flags read from the file rows (``known`` and ``allow`` come from the list matches).
STORED_FILE_FLAGS = (
    "potential_meme", "viral", "possible_self_production", "live_streaming", "infant",
    "physical_harm", "violence_gore", "bestiality", "sex_act_a1_b1",
)  # fmt: skip
SOURCES: dict[str, Any] = {
    "report": ProviderReport,
    "party": ReportParty,
    "file": ReportedFile,
    "hash": FileHash,
    "identifier": PartyIdentifier,
}
_NO_TIME = -(2**62)  # stands for NULL in an epoch column read from the store


def _epoch_sql(session: Session, column: Any) -> Any:
    """``column`` (a timestamp) as whole epoch seconds computed by the database, ``_NO_TIME`` when
    NULL: converting a million timestamps row by row in Python costs more than reading them."""
    if session.get_bind().dialect.name == "sqlite":  # stored as UTC text
        seconds: Any = cast(func.strftime("%s", column), BigInteger)
    else:
        seconds = cast(func.floor(extract("epoch", column)), BigInteger)
    return func.coalesce(seconds, _NO_TIME)


def _read(session: Session, statement: Any, names: list[str]) -> pl.DataFrame:
    """The statement's rows as a frame with ``names`` for columns: run on the driver's cursor,
    rows as the driver gives them (no result objects per row; the columns read are numbers,
    text and flags, converted by the frame)."""
    connection = session.connection()
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    params = compiled.construct_params()
    cursor = connection.connection.cursor()
    try:
        cursor.execute(
            str(compiled),
            [params[name] for name in compiled.positiontup or ()]
            if compiled.positional
            else params,
        )
        rows = cursor.fetchall()
    finally:
        cursor.close()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pl.DataFrame(
        {name: pl.Series(name, values, strict=False) for name, values in zip(names, columns,
                                                                             strict=True)}
    )  # fmt: skip


def _ints(frame: pl.DataFrame, name: str) -> IntArray:
    return frame[name].fill_null(0).cast(pl.Int64).to_numpy().astype(np.int64)


def _flags(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame[name].fill_null(False).cast(pl.Boolean).to_numpy().astype(np.bool_)


def _equals(series: pl.Series, value: str) -> np.ndarray:
    return (series == value).fill_null(False).to_numpy().astype(np.bool_)


@dataclass(frozen=True)
class Loaded:
    """The run's inputs as tables, what earlier runs decided, and how they were read.

    ``read``: "incremental" (cache plus new rows) or "full", with ``reason`` saying why a full
    read was needed; ``columns``: the input columns as the cache keeps them; ``cache``: the cache
    read (``None`` after a full read); ``changed_files``: earlier files whose list matches changed.
    """

    reports: ReportTable
    files: FileTable
    identifiers: IdentifierTable
    previous: Previous
    provider_names: list[str]
    received_at: IntArray
    # The stored decisions' fingerprints (``fingerprint.fingerprints``); ``decided``: has a row.
    decided: np.ndarray
    decided_fingerprint: IntArray
    read: str = "full"
    reason: str = ""
    columns: Mapping[str, np.ndarray] | None = None
    cache: StoredColumns | None = None
    marks: Mapping[str, tuple[int, int]] | None = None
    digest: str = ""
    content_index: ContentIndex | None = None
    subject_index: SubjectIndex | None = None
    summaries: tuple[pl.DataFrame, pl.DataFrame] | None = None
    changed_files: IntArray | None = None
    lists: list[list[Any]] | None = None


def settings_digest(session: Session, options: RunOptions) -> str:
    """What the cached columns and clusters depend on besides the stored rows."""
    heads = sorted(MigrationContext.configure(session.connection()).get_current_heads())
    text = json.dumps(
        {
            "min_quality": options.pdq_min_quality,
            "max_distance": options.content.max_distance,
            "viral_min_reports": options.content.viral_min_reports,
            "ip_window_seconds": options.subjects.window_seconds,
            "schema": heads,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class _Mark(NamedTuple):
    """Where a source table stands. ``top``: its highest id; ``above``: rows above the
    watermark asked about; ``tally``: what a cache keeps so that a later run can tell that no
    row at or below its watermark went away; ``below``: the same measure now, equal to the
    cache's tally when none did. PostgreSQL: the rows (tally) and the rows at or below the
    watermark (below), which also catches rows committed late below it. SQLite: the deletions
    counted by triggers (``RowDeletions``) for both; a single writer makes ids grow with commits
    there, and counting every row would scan whole indexes."""

    top: int
    above: int
    tally: int
    below: int


def _marks(session: Session, since: Mapping[str, int]) -> dict[str, _Mark]:
    """Per source table its ``_Mark`` for the watermark ``since``, in one statement (one
    snapshot of the database)."""
    counted = session.get_bind().dialect.name != "sqlite"
    parts = []
    tables = {**SOURCES, "match": HashMatch}
    for name, model in tables.items():
        tally_query = (
            select(func.count()).select_from(model)
            if counted
            else select(func.coalesce(func.max(RowDeletions.deleted), 0)).where(
                RowDeletions.table_name == model.__tablename__
            )
        )  # fmt: skip
        parts += [
            select(func.coalesce(func.max(model.id), 0)).scalar_subquery(),
            select(func.count())
            .select_from(model)
            .where(model.id > since.get(name, 0))
            .scalar_subquery(),
            tally_query.scalar_subquery(),
        ]
    row = session.execute(select(*parts)).one()
    result = {}
    for k, name in enumerate(tables):
        top, above, tally = (int(value) for value in row[3 * k : 3 * k + 3])
        result[name] = _Mark(top, above, tally, tally - above if counted else tally)
    return result


@dataclass(frozen=True)
class _Base:
    """The columns a read starts from: the cache's, or nothing."""

    arrays: dict[str, np.ndarray]
    providers: list[str]
    exact: KeyDictionary
    identifiers: KeyDictionary
    since: dict[str, int]
    tallies: dict[str, int]
    cache: StoredColumns | None = None

    def grown(self, name: str, new: np.ndarray) -> np.ndarray:
        """Column ``name`` with the rows ``new`` after it (in the cache's room when it has some)."""
        if not len(new):
            return self.arrays[name]
        if self.cache is None:  # a full read: nothing stored before the new rows
            return new
        return self.cache.grown(name, new)


_INPUT_DTYPES: dict[str, Any] = {
    # Positions and counts fit 32 bits: the columns are read back every run, so kept narrow.
    "r_id": np.int64, "r_happened": np.int64, "r_received": np.int64, "r_provider": np.int32,
    **{f"sig_{name}": np.int32 for name in REPORT_SIGNALS},
    "f_id": np.int64, "f_report": np.int32, "f_position": np.int32, "f_seen": np.int64,
    "f_pdq": np.uint64, "f_pdq_ok": np.bool_,
    **{f"flag_{name}": np.bool_ for name in STORED_FILE_FLAGS},
    "e_file": np.int32, "e_key": np.int64,
    "i_report": np.int32, "i_key": np.int64, "i_is_ip": np.bool_, "i_seen": np.int64,
    "i_kind": np.int8,
    "dx_high": np.uint64, "dx_low": np.uint64, "di_high": np.uint64, "di_low": np.uint64,
}  # fmt: skip


def _empty_base() -> _Base:
    arrays = {name: np.zeros(0, dtype=dtype) for name, dtype in _INPUT_DTYPES.items()}
    arrays["f_pdq"] = np.zeros((0, 4), dtype=np.uint64)
    return _Base(arrays, [], KeyDictionary.empty(), KeyDictionary.empty(), {}, {})


def _check_meta(
    meta: Mapping[str, Any], digest: str, last_run: int
) -> tuple[dict[str, int], dict[str, int]]:
    """The watermarks and tallies (``_Mark``) of a cache kept with these settings by the last
    run."""
    if meta.get("digest") != digest:
        raise CacheUnusableError("settings or schema changed since the input cache was kept")
    if meta.get("run") != last_run:
        raise CacheUnusableError("input cache is older than the last run")
    try:
        marks = meta["marks"]
        return (
            {name: int(marks[name][0]) for name in (*SOURCES, "match")},
            {name: int(marks[name][1]) for name in (*SOURCES, "match")},
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CacheUnusableError(f"input cache unreadable ({type(exc).__name__})") from exc


# The table whose new rows can grow each cached column (at most one row per row above its
# watermark): the room a cache read leaves after the column.
_GROWN_BY = {
    **dict.fromkeys(
        ["r_id", "r_happened", "r_received", "r_provider",
         *(f"sig_{name}" for name in REPORT_SIGNALS), "p_report_subject", "p_fingerprint"],
        "report",
    ),
    **dict.fromkeys(
        ["f_id", "f_report", "f_position", "f_seen", "f_pdq", "f_pdq_ok",
         *(f"flag_{name}" for name in STORED_FILE_FLAGS), "p_file_cluster", "p_flagged",
         "p_spread"],
        "file",
    ),
    **dict.fromkeys(["e_file", "e_key", "dx_high", "dx_low"], "hash"),
    **dict.fromkeys(
        ["i_report", "i_key", "i_is_ip", "i_seen", "i_kind", "di_high", "di_low"], "identifier"
    ),
}  # fmt: skip


def _room(marks: Mapping[str, _Mark]) -> dict[str, int]:
    return {name: marks[table].above for name, table in _GROWN_BY.items()}


def _cached_base(cache: StoredColumns, since: dict[str, int], tallies: dict[str, int]) -> _Base:
    missing = sorted(set(_INPUT_DTYPES) - set(cache.arrays))
    if missing:
        raise CacheUnusableError(f"input cache damaged: no column {missing[0]}")
    arrays = {name: cache.arrays[name] for name in _INPUT_DTYPES}
    for name, dtype in _INPUT_DTYPES.items():
        if arrays[name].dtype != dtype:
            raise CacheUnusableError(f"input cache damaged: column {name} is not {np.dtype(dtype)}")
    try:
        return _Base(
            arrays,
            list(cache.meta["providers"]),
            KeyDictionary(arrays["dx_high"], arrays["dx_low"]),
            KeyDictionary(arrays["di_high"], arrays["di_low"]),
            since,
            tallies,
            cache,
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CacheUnusableError(f"input cache unreadable ({type(exc).__name__})") from exc


def _between(model: Any, since: Mapping[str, int], marks: Mapping[str, _Mark], name: str) -> Any:
    return (model.id > since.get(name, 0)) & (model.id <= marks[name].top)


def _positions(ids: IntArray, wanted: IntArray) -> tuple[IntArray, np.ndarray]:
    """Positions of ``wanted`` in the ascending ``ids`` and whether each is there."""
    if ids.size == 0:
        return np.zeros(wanted.shape[0], dtype=np.int64), np.zeros(wanted.shape[0], np.bool_)
    at = np.clip(sorted_positions(ids, wanted), 0, ids.size - 1)
    return at, ids[at] == wanted


def _owners(
    ids: IntArray, owner: IntArray, incremental: bool, moved: str
) -> tuple[IntArray, np.ndarray]:
    """``_positions`` of new rows' owners (reports or files); in an incremental read every owner
    must be known, else a row was ``moved`` into an earlier report or file and the cache's
    columns no longer describe the store."""
    at, present = _positions(ids, owner)
    if incremental and not present.all():
        raise _MovedError(moved)
    return at, present


def _present(
    frame: pl.DataFrame, at: IntArray, present: np.ndarray
) -> tuple[pl.DataFrame, IntArray]:
    """The rows whose owner is known, with their owners' positions."""
    keep = np.flatnonzero(present)
    return (frame[keep.tolist()] if keep.size != frame.height else frame), at[keep]


def _new_reports(
    session: Session, base: _Base, between: Any
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Reports above the watermark with their signals (parties read separately)."""
    report = _read(
        session,
        select(
            ProviderReport.id, _epoch_sql(session, ProviderReport.received_at),
            _epoch_sql(session, ProviderReport.incident_time), ProviderReport.provider,
            ProviderReport.incident_type, ProviderReport.escalated,
            ProviderReport.annotation_sextortion, ProviderReport.annotation_csam_solicitation,
            ProviderReport.annotation_sadistic_online_exploitation,
            ProviderReport.annotation_minor_to_minor, ProviderReport.annotation_informational,
            ProviderReport.batched_reason,
        ).where(between(ProviderReport, "report")).order_by(ProviderReport.id),
        ["id", "received", "incident", "provider", "incident_type", "escalated", "sextortion",
         "csam_solicitation", "sadistic", "minor_to_minor", "informational", "batched"],
    )  # fmt: skip
    received = _ints(report, "received")
    incident = _ints(report, "incident")
    names = report["provider"].cast(pl.String).fill_null(UNKNOWN_PROVIDER)
    known = set(base.providers)
    providers = base.providers + sorted(set(names.to_list()) - known)
    code = {name: at for at, name in enumerate(providers)}
    incident_type = report["incident_type"].cast(pl.String)
    columns: dict[str, np.ndarray] = {
        "r_id": _ints(report, "id"),
        "r_received": received,
        "r_happened": np.where(incident == _NO_TIME, received, incident),
        "r_provider": names.replace_strict(code, return_dtype=pl.Int32).to_numpy()
        if report.height
        else np.zeros(0, np.int32),
        "sig_escalate": _ints(report, "escalated"),
        "sig_enticement": _equals(incident_type, ENTICEMENT).astype(np.int64),
        "sig_sextortion": _ints(report, "sextortion"),
        "sig_csam_solicitation": _ints(report, "csam_solicitation"),
        "sig_sadistic_exploitation": _ints(report, "sadistic"),
        "sig_minor_to_minor": _ints(report, "minor_to_minor"),
        "sig_informational": _ints(report, "informational"),
        "sig_batched_meme": _equals(report["batched"].cast(pl.String), "VIRAL_POTENTIAL_MEME")
        .astype(np.int64),
        "sig_access_to_children": _equals(incident_type, CONTACT_OFFENCE).astype(np.int64),
    }  # fmt: skip
    return columns, providers


class _MovedError(Exception):
    """Rows were added to earlier reports or files: the cache cannot simply grow."""


def _party_signals(
    session: Session, between: Any, report_ids: IntArray, incremental: bool
) -> dict[str, IntArray]:
    parties = _read(
        session,
        select(ReportParty.report_id, ReportParty.role, ReportParty.age,
               ReportParty.prior_ct_reports_count)
        .where(ReportParty.parent_id.is_(None), between(ReportParty, "party")),
        ["report", "role", "age", "prior"],
    )  # fmt: skip
    at, present = _owners(
        report_ids, _ints(parties, "report"), incremental, "a party was added to an earlier report"
    )
    n = report_ids.shape[0]
    role = parties["role"].cast(pl.String)
    victim = np.zeros(n, dtype=np.int64)
    victim[at[present & _equals(role, "victim")]] = 1
    user = present & _equals(role, "reported_user")
    minor_user = user & (parties["age"].cast(pl.Int64) < 18).fill_null(False).to_numpy()
    minor = np.zeros(n, dtype=np.int64)
    minor[at[minor_user]] = 1
    prior = np.bincount(at[user], weights=_ints(parties, "prior")[user], minlength=n)
    return {
        "sig_victim_identified": victim,
        "sig_reported_user_minor": minor,
        "sig_prior_ct_reports": prior.astype(np.int64),
    }


def _new_files(
    session: Session, between: Any, report_ids: IntArray, happened: IntArray, offset: int,
    incremental: bool,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Files above the watermark; ``report_ids``/``happened``: the new reports, which start at
    position ``offset`` of the report table."""
    file = _read(
        session,
        select(
            ReportedFile.id, ReportedFile.report_id,
            _epoch_sql(session, ReportedFile.uploaded_at), ReportedFile.potential_meme,
            ReportedFile.annotation_viral, ReportedFile.annotation_possible_self_production,
            ReportedFile.annotation_live_streaming, ReportedFile.annotation_infant,
            ReportedFile.annotation_physical_harm, ReportedFile.annotation_violence_gore,
            ReportedFile.annotation_bestiality, ReportedFile.industry_classification,
        ).where(between(ReportedFile, "file")).order_by(ReportedFile.id),
        ["id", "report", "uploaded", "potential_meme", "viral", "possible_self_production",
         "live_streaming", "infant", "physical_harm", "violence_gore", "bestiality", "class"],
    )  # fmt: skip
    at, present = _owners(
        report_ids, _ints(file, "report"), incremental, "a file was added to an earlier report"
    )
    file, at = _present(file, at, present)
    position = (
        pl.DataFrame({"report": at})
        .with_row_index("row")
        .select(pl.col("row").rank("ordinal").over("report"))["row"]
        .to_numpy()
        .astype(np.int32)
    )
    uploaded = _ints(file, "uploaded")
    columns: dict[str, np.ndarray] = {
        "f_id": _ints(file, "id"),
        "f_report": (at + offset).astype(np.int64),
        "f_position": position,
        "f_seen": np.where(uploaded == _NO_TIME, happened[at], uploaded).astype(np.int64),
        "f_pdq": np.zeros((file.height, 4), dtype=np.uint64),
        "f_pdq_ok": np.zeros(file.height, dtype=np.bool_),
    }
    columns |= {
        f"flag_{name}": _flags(file, name) for name in STORED_FILE_FLAGS if name != "sex_act_a1_b1"
    }
    columns["flag_sex_act_a1_b1"] = (
        file["class"].cast(pl.String).is_in(["A1", "B1"]).fill_null(False).to_numpy()
    ).astype(np.bool_)
    return columns


def _new_hashes(
    session: Session, between: Any, files: dict[str, np.ndarray], offset: int, min_quality: int,
    exact_keys: KeyDictionary, incremental: bool,
) -> tuple[IntArray, IntArray, KeyDictionary]:  # fmt: skip
    """Hashes above the watermark: PDQ into ``files`` (the new files, from position ``offset``),
    exact ones returned as (file position, key code) with the grown key dictionary."""
    # Kinds are filtered here, not in SQL: a kind condition lets SQLite scan every hash of those
    # kinds through their index instead of taking the id range.
    hashes = _read(
        session,
        select(FileHash.file_id, FileHash.kind, FileHash.value, FileHash.quality).where(
            between(FileHash, "hash")
        ),
        ["file", "kind", "value", "quality"],
    ).filter(pl.col("kind").cast(pl.String).is_in((*EXACT_KINDS, "pdq")))
    at, present = _owners(
        files["f_id"], _ints(hashes, "file"), incremental, "a hash was added to an earlier file"
    )
    hashes = hashes.with_columns(
        pl.Series("at", at), pl.Series("present", present),
        pl.col("kind").cast(pl.String), pl.col("value").cast(pl.String).str.to_lowercase(),
    ).filter(pl.col("present"))  # fmt: skip
    exact = hashes.filter(
        pl.col("kind").is_in(EXACT_KINDS) & ~pl.col("value").is_in(EMPTY_FILE_DIGESTS)
    )
    # A provider's PDQ comes without a quality: usable; a computed one below the minimum is not,
    # nor, whatever its quality, one of a flat picture (``pdq_bits.informative``): a provider's
    # hash of a blank frame would otherwise join every other blank frame into one cluster.
    pdq_rows = hashes.filter(
        (pl.col("kind") == "pdq")
        & (pl.col("quality").is_null() | (pl.col("quality").cast(pl.Int64) >= min_quality))
    )
    if pdq_rows.height:
        rows = _ints(pdq_rows, "at")
        words = hex_to_words(pdq_rows["value"].to_list())
        files["f_pdq"][rows] = words
        files["f_pdq_ok"][rows] = informative(words)
    high, low = keys128(exact["kind"], exact["value"])
    codes, grown = exact_keys.encode(high, low)
    return _ints(exact, "at") + offset, codes, grown


def _namespaces(
    kind: pl.Series, scope: pl.Series, provider: pl.Series, report: pl.Series
) -> pl.Series:
    """What an identifier's value is unique within, the part of its key besides kind and value.

    Its scope (the service) where there is one. An account id or a screen name without a service
    means one user only within its provider: the same "1001" at two providers is two people, and
    linking them would raise both reports for "earlier reports about the same user". Without a
    provider either, it names no one beyond its own report. The pseudonyms stay as stored (a
    report sent again must digest as before); only the key the subjects are linked by changes.
    """
    frame = pl.DataFrame({"kind": kind, "scope": scope, "provider": provider, "report": report})
    unscoped = pl.col("kind").is_in(SERVICE_KINDS) & (pl.col("scope") == "")
    # "\x1e" opens a namespace no scope gives (a scope would follow "\x1f" itself).
    return frame.select(
        pl.when(~unscoped)
        .then(pl.col("scope"))
        .when(pl.col("provider") != UNKNOWN_PROVIDER)
        .then(pl.lit("\x1eprovider\x1f") + pl.col("provider"))
        .otherwise(pl.lit("\x1ereport\x1f") + pl.col("report").cast(pl.String))
        .alias("namespace")
    )["namespace"]


def _new_identifiers(
    session: Session, between: Any, report_ids: IntArray, happened: IntArray, offset: int,
    keys: KeyDictionary, incremental: bool, providers: np.ndarray,
) -> tuple[dict[str, np.ndarray], KeyDictionary]:  # fmt: skip
    """Reported users' identifiers above the watermark, keyed for linking; ``providers``: the
    provider name of each new report (as ``report_ids``)."""
    identifier = _read(
        session,
        select(
            PartyIdentifier.report_id, PartyIdentifier.kind, PartyIdentifier.scope,
            PartyIdentifier.pseudonym, _epoch_sql(session, PartyIdentifier.event_time),
        )
        .join(ReportParty, ReportParty.id == PartyIdentifier.party_id)
        .where(ReportParty.role == "reported_user", between(PartyIdentifier, "identifier")),
        ["report", "kind", "scope", "pseudonym", "event"],
    ).filter(pl.col("kind").cast(pl.String).is_in(LINKING_KINDS))  # as for hashes  # fmt: skip
    # An address that is not globally routable is in use by unrelated networks: it links nothing.
    identifier = identifier.filter(
        (pl.col("kind").cast(pl.String) != "ip")
        | (pl.col("scope").cast(pl.String).fill_null("") != IP_NOT_GLOBAL)
    )
    at, present = _owners(
        report_ids,
        _ints(identifier, "report"),
        incremental,
        "an identifier was added to an earlier report",
    )
    identifier, at = _present(identifier, at, present)
    event = _ints(identifier, "event")
    kind = identifier["kind"].cast(pl.String)
    namespace = _namespaces(
        kind, identifier["scope"].cast(pl.String).fill_null(""),
        pl.Series(providers[at], dtype=pl.String), identifier["report"],
    )  # fmt: skip
    high, low = keys128(kind + "\x1f" + namespace, identifier["pseudonym"])
    codes, grown = keys.encode(high, low)
    return {
        "i_report": (at + offset).astype(np.int64),
        "i_key": codes,
        "i_is_ip": _equals(kind, "ip"),
        "i_seen": np.where(event == _NO_TIME, happened[at], event).astype(np.int64),
        "i_kind": np.where(
            _equals(kind, "screen_name"),
            SCREEN_NAME,
            np.where(_equals(kind, "esp_id"), ACCOUNT_ID, OTHER),
        ).astype(np.int8),
    }, grown


def list_signature(session: Session) -> list[list[Any]]:
    """Every list's id, name, kind, version and import time: importing or removing a list (the
    only ways matches of stored files are replaced or removed) changes it."""
    rows = session.execute(
        select(HashList.id, HashList.name, HashList.kind, HashList.version, HashList.imported_at)
        .order_by(HashList.id)
    ).all()  # fmt: skip
    return [[int(i), str(n), str(k), int(v), str(at)] for i, n, k, v, at in rows]


def _list_flags(
    session: Session, file_id: IntArray, between: Any, start: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Which files match a known list, and which (only) an allow list: the matches in
    ``between`` added to ``start`` (earlier known and allow flags, shorter or equal).

    An entry of a known list categorised non-pertinent (VICS: reviewed, not abuse material) makes
    no file known: a case export lists such media beside the abuse material it holds."""
    kinds = dict(session.execute(select(HashList.id, HashList.kind)).all())
    statement = (
        select(HashMatch.file_id, HashMatch.list_id, HashListEntry.category == NON_PERTINENT)
        .join(HashListEntry, HashListEntry.id == HashMatch.entry_id)
        .where(between(HashMatch, "match"))
    )
    matched = _read(session, statement, ["file", "list", "non_pertinent"])
    known = np.zeros(file_id.shape[0], dtype=np.bool_)
    allow = np.zeros(file_id.shape[0], dtype=np.bool_)
    known[: start[0].shape[0]] = start[0]
    allow[: start[1].shape[0]] = start[1]
    if matched.height:
        list_ids = _ints(matched, "list")
        lists = np.unique(list_ids)
        list_kind = np.array([kinds.get(int(i), "") for i in lists.tolist()])
        kind = list_kind[np.searchsorted(lists, list_ids)]
        at, present = _positions(file_id, _ints(matched, "file"))
        pertinent = ~matched["non_pertinent"].cast(pl.Boolean).to_numpy()
        known[at[present & (kind == "known") & pertinent]] = True
        allow[at[present & (kind == "allow")]] = True
    return known, allow & ~known


def _grow(base: _Base, new: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The base's columns with the new rows appended (the base's own arrays when none)."""
    return {
        name: base.grown(name, np.asarray(new[name], dtype=dtype))
        for name, dtype in _INPUT_DTYPES.items()
    }


def _read_rows(
    session: Session, base: _Base, marks: Mapping[str, _Mark], min_quality: int, incremental: bool
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The base's columns grown by the rows above its watermarks (everything when empty)."""

    def between(model: Any, name: str) -> Any:
        return _between(model, base.since, marks, name)

    reports, providers = _new_reports(session, base, between)
    offset = base.arrays["r_id"].shape[0]
    reports |= _party_signals(session, between, reports["r_id"], incremental)
    files = _new_files(
        session, between, reports["r_id"], reports["r_happened"], offset, incremental
    )
    file_offset = base.arrays["f_id"].shape[0]
    exact_file, exact_key, exact = _new_hashes(
        session, between, files, file_offset, min_quality, base.exact, incremental
    )
    identifiers, keys = _new_identifiers(
        session, between, reports["r_id"], reports["r_happened"], offset, base.identifiers,
        incremental, np.array(providers, dtype=object)[reports["r_provider"].astype(np.int64)],
    )  # fmt: skip
    new = {**reports, **files, **identifiers, "e_file": exact_file, "e_key": exact_key}
    new |= {
        "dx_high": exact.high[len(base.exact) :], "dx_low": exact.low[len(base.exact) :],
        "di_high": keys.high[len(base.identifiers) :], "di_low": keys.low[len(base.identifiers) :],
    }  # fmt: skip
    return _grow(base, new), providers


def _tables(
    columns: Mapping[str, np.ndarray], known: np.ndarray, allow: np.ndarray
) -> tuple[ReportTable, FileTable, IdentifierTable]:
    reports = ReportTable(
        columns["r_id"],
        columns["r_happened"],
        columns["r_provider"].astype(np.int64),
        {name: columns[f"sig_{name}"].astype(np.int64) for name in REPORT_SIGNALS},
    )
    flags = {name: columns[f"flag_{name}"] for name in STORED_FILE_FLAGS}
    files = FileTable(
        file_id=columns["f_id"],
        report=columns["f_report"].astype(np.int64),
        position=columns["f_position"].astype(np.int64),
        seen_at=columns["f_seen"],
        pdq=columns["f_pdq"],
        pdq_ok=columns["f_pdq_ok"],
        exact_file=columns["e_file"].astype(np.int64),
        exact_key=columns["e_key"],
        flags=flags | {"known": known, "allow": allow},
    )
    identifiers = IdentifierTable(
        columns["i_report"].astype(np.int64),
        columns["i_key"],
        columns["i_is_ip"],
        columns["i_seen"],
        columns["i_kind"],
    )
    return reports, files, identifiers


def _stored_results(
    session: Session, report_id: IntArray, file_id: IntArray
) -> tuple[Previous, np.ndarray, IntArray]:
    """Earlier clusters, subjects, levels and decision fingerprints, read from their tables."""
    n, n_files = report_id.shape[0], file_id.shape[0]
    previous_cluster = np.full(n_files, UNASSIGNED, dtype=np.int64)
    assigned = _read(
        session, select(FileCluster.file_id, FileCluster.cluster_id), ["file", "cluster"]
    )
    at, present = _positions(file_id, _ints(assigned, "file"))
    previous_cluster[at[present]] = _ints(assigned, "cluster")[present]
    previous_subject = np.full(n, UNASSIGNED, dtype=np.int64)
    previous_level = np.zeros(n, dtype=np.int64)
    has_decision = np.zeros(n, dtype=np.bool_)
    decided_fingerprint = np.zeros(n, dtype=np.int64)
    decided = _read(
        session,
        select(
            PriorityDecision.report_id, PriorityDecision.subject_id, PriorityDecision.level,
            PriorityDecision.fingerprint,
        ),
        ["report", "subject", "level", "fingerprint"],
    )  # fmt: skip
    if decided.height:
        at, present = _positions(report_id, _ints(decided, "report"))
        rows = at[present]
        previous_subject[rows] = _ints(decided, "subject")[present]
        previous_level[rows] = (
            decided["level"].cast(pl.String).replace_strict(LEVEL_CODE, return_dtype=pl.Int64)
        ).to_numpy()[present]
        # A row from before fingerprints (NULL) counts as not decided: it is rewritten.
        has_decision[rows] = decided["fingerprint"].is_not_null().to_numpy()[present]
        decided_fingerprint[rows] = _ints(decided, "fingerprint")[present]
    return (
        Previous(previous_cluster, previous_subject, previous_level),
        has_decision,
        decided_fingerprint,
    )


def _cached_results(
    cache: StoredColumns, n_reports: int, n_files: int
) -> tuple[Previous, np.ndarray, IntArray]:
    arrays = cache.arrays

    def grown(name: str, length: int, fill: int) -> IntArray:
        old = arrays[name]
        added = np.full(length - old.shape[0], fill, dtype=np.int64)
        if old.dtype == np.int64:
            return cache.grown(name, added)
        return np.concatenate([old.astype(np.int64), added])

    decided = np.zeros(n_reports, dtype=np.bool_)
    decided[: arrays["p_fingerprint"].shape[0]] = True
    kept = None
    if {"p_score", "p_route", "p_fired", "p_work_item"} <= set(arrays) and isinstance(
        cache.meta.get("policy"), str
    ):
        kept = Kept(
            cache.meta["policy"], arrays["p_score"], arrays["p_route"], arrays["p_fired"],
            arrays["p_work_item"].astype(np.int64),
        )  # fmt: skip
    flagged, spread = arrays["p_flagged"], arrays["p_spread"]
    return (
        Previous(
            grown("p_file_cluster", n_files, UNASSIGNED),
            grown("p_report_subject", n_reports, UNASSIGNED),
            grown("p_level", n_reports, 0),
            kept,
            cache.grown("p_flagged", np.zeros(n_files - flagged.shape[0], dtype=np.bool_)),
            cache.grown("p_spread", np.zeros(n_files - spread.shape[0], dtype=np.bool_)),
        ),
        decided,
        grown("p_fingerprint", n_reports, 0),
    )


def _indexes(cache: StoredColumns) -> tuple[ContentIndex, SubjectIndex]:
    a = cache.arrays
    return (
        ContentIndex(
            a["ci_exact_key"], a["ci_exact_cluster"], a["ci_exact_reports"], a["ci_pdq"],
            a["ci_pdq_cluster"], a["ci_pdq_reports"],
        ),
        SubjectIndex(
            a["si_key"], a["si_key_subject"], a["si_ip_key"], a["si_ip_seen_at"],
            a["si_ip_subject"],
        ),
    )  # fmt: skip


RESULT_COLUMNS = (
    "p_file_cluster", "p_report_subject", "p_level", "p_fingerprint", "p_known", "p_allow",
    "p_flagged", "p_spread",
    "ci_exact_key", "ci_exact_cluster", "ci_exact_reports", "ci_pdq", "ci_pdq_cluster",
    "ci_pdq_reports",
    "si_key", "si_key_subject", "si_ip_key", "si_ip_seen_at", "si_ip_subject",
)  # fmt: skip


def load(session: Session, options: RunOptions, *, use_cache: bool = True) -> Loaded:
    """The run's inputs: the input cache grown by the rows stored since, or a full read (then
    ``Loaded.reason`` says why)."""
    digest = settings_digest(session, options)
    cache: StoredColumns | None = None
    base = _empty_base()
    reason = "asked for"
    marks: dict[str, _Mark] | None = None
    if use_cache:
        try:
            meta = read_meta(session)
            last_run = int(session.scalar(select(func.coalesce(func.max(TriageRun.id), 0))) or 0)
            since, tallies = _check_meta(meta, digest, last_run)
            marks = _marks(session, since)
            # Room after each column for the rows above the watermarks: they are read into it.
            cache = read_cache(session, meta, _room(marks))
            base = _cached_base(cache, since, tallies)
            missing = sorted(set(RESULT_COLUMNS) - set(cache.arrays))
            if missing or set(cache.frames) != {"content", "subjects"}:
                raise CacheUnusableError("input cache damaged: results missing")
        except CacheUnusableError as exc:
            cache, base, reason = None, _empty_base(), str(exc)
            marks = None
    if marks is None:
        marks = _marks(session, base.since)
    if cache is not None:
        for name in SOURCES:
            if marks[name].below != base.tallies[name] or marks[name].top < base.since[name]:
                cache, base = None, _empty_base()
                reason = f"rows of {name}s were deleted or renumbered since the last run"
                marks = _marks(session, {})
                break
    if cache is not None:
        try:
            columns, providers = _read_rows(session, base, marks, options.pdq_min_quality, True)
        except _MovedError as exc:
            cache, base, reason = None, _empty_base(), str(exc)
            marks = _marks(session, {})
    if cache is None:
        columns, providers = _read_rows(session, base, marks, options.pdq_min_quality, False)
    lists = list_signature(session)
    if (
        cache is not None
        and cache.meta.get("lists") == lists
        and marks["match"].below == base.tallies["match"]
        and marks["match"].top >= base.since["match"]
    ):
        # Only matches of new files were added since: the earlier flags plus the new matches.
        since, start = base.since, (cache.arrays["p_known"], cache.arrays["p_allow"])
    else:  # lists imported or removed: every match is read again (a cheap part of the store)
        empty = np.zeros(0, dtype=np.bool_)
        since, start = {}, (empty, empty)

    def matches_between(model: Any, name: str) -> Any:
        return _between(model, since, marks, name)

    known, allow = _list_flags(session, columns["f_id"], matches_between, start)
    reports, files, identifiers = _tables(columns, known, allow)
    mark_values = {name: (marks[name].top, marks[name].tally) for name in (*SOURCES, "match")}
    common: dict[str, Any] = {
        "provider_names": providers, "received_at": columns["r_received"], "columns": columns,
        "marks": mark_values, "digest": digest, "lists": lists,
    }  # fmt: skip
    if cache is None:
        previous, decided, fingerprint = _stored_results(session, reports.report_id, files.file_id)
        return Loaded(
            reports, files, identifiers, previous, decided=decided,
            decided_fingerprint=fingerprint, read="full", reason=reason, **common,
        )  # fmt: skip
    previous, decided, fingerprint = _cached_results(cache, len(reports), len(files))
    n_old = cache.arrays["p_known"].shape[0]
    changed = (cache.arrays["p_known"] != known[:n_old]) | (
        cache.arrays["p_allow"] != allow[:n_old]
    )
    content_index, subject_index = _indexes(cache)
    return Loaded(
        reports, files, identifiers, previous, decided=decided, decided_fingerprint=fingerprint,
        read="incremental", reason="", cache=cache, content_index=content_index,
        subject_index=subject_index,
        summaries=(cache.frames["content"], cache.frames["subjects"]),
        changed_files=np.flatnonzero(changed).astype(np.int64), **common,
    )  # fmt: skip
