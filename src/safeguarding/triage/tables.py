"""The plain values triage works on: reports, their files and their identifiers as columns.

Clustering and prioritising a million reports row by row would take hours, so the pure core takes
whole columns (numpy arrays, one entry per report, file or identifier) and answers in columns. The
store and the command line turn rows into these tables and the answers back into rows.

Conventions: ``*_id`` columns hold stable ids that grow with arrival (the store's primary keys),
so "the smallest id of a cluster" names the cluster by its oldest member and stays the same when
new members join; other integer columns are positions (``report`` is the index of a file's report
in the report table); times are seconds since the epoch (UTC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from safeguarding.triage.pdq_pairs import WordArray
from safeguarding.triage.unionfind import IntArray

BoolArray = npt.NDArray[np.bool_]

# Flags a file can carry, as the report format names them (see docs/triage.md).
FILE_FLAGS: tuple[str, ...] = (
    "known",
    "allow",
    "potential_meme",
    "viral",
    "possible_self_production",
    "live_streaming",
    "infant",
    "physical_harm",
    "violence_gore",
    "bestiality",
    "sex_act_a1_b1",
)

# Signals a report carries as a whole, as counts (0 = absent).
REPORT_SIGNALS: tuple[str, ...] = (
    "escalate",
    "enticement",
    "sextortion",
    "csam_solicitation",
    "sadistic_exploitation",
    "minor_to_minor",
    "informational",
    "batched_meme",
    "victim_identified",
    "access_to_children",
    "reported_user_minor",
    "prior_ct_reports",
)


# The cluster or subject of a file or report not placed yet.
UNASSIGNED = -1
# ``IdentifierTable.kind``: what an identifier is, as far as linking tells kinds apart.
OTHER, SCREEN_NAME, ACCOUNT_ID = 0, 1, 2


def _check_length(name: str, column: np.ndarray, length: int) -> None:
    if column.shape[0] != length:
        raise ValueError(f"column {name} has {column.shape[0]} entries, expected {length}")


def codes(values: Sequence[str] | pl.Series) -> IntArray:
    """Dense integer codes for string values (equal strings, equal codes), vectorised."""
    series = values if isinstance(values, pl.Series) else pl.Series(values, dtype=pl.String)
    if series.len() == 0:
        return np.zeros(0, dtype=np.int64)
    ranked = series.rank(method="dense").to_numpy()
    return np.asarray(ranked, dtype=np.int64) - 1


@dataclass(frozen=True)
class ReportTable:
    """One entry per report."""

    report_id: IntArray
    received_at: IntArray
    provider: IntArray
    signals: Mapping[str, IntArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.report_id.shape[0]
        _check_length("received_at", self.received_at, n)
        _check_length("provider", self.provider, n)
        unknown = sorted(set(self.signals) - set(REPORT_SIGNALS))
        if unknown:
            raise ValueError(f"unknown report signal(s): {', '.join(unknown)}")
        for name, column in self.signals.items():
            _check_length(name, column, n)
        if n > 1 and not bool(np.all(np.diff(self.report_id) > 0)):
            raise ValueError("report ids must be unique and ascending")

    def __len__(self) -> int:
        return int(self.report_id.shape[0])

    def signal(self, name: str) -> IntArray:
        if name not in REPORT_SIGNALS:
            raise KeyError(f"unknown report signal {name!r}")
        value = self.signals.get(name)
        return value if value is not None else np.zeros(len(self), dtype=np.int64)


@dataclass(frozen=True)
class FileTable:
    """One entry per reported file. ``position`` is the file's number within its report (1, 2 …).

    ``exact_file``/``exact_key`` list the file's exact hashes (MD5, SHA-1, SHA-256 …) as codes: a
    file appears once per hash it has, and equal codes mean equal hashes of the same kind. ``pdq``
    holds PDQ hashes as four words; ``pdq_ok`` is false where there is none or its quality is too
    low to match on.
    """

    file_id: IntArray
    report: IntArray
    position: IntArray
    seen_at: IntArray
    pdq: WordArray
    pdq_ok: BoolArray
    exact_file: IntArray
    exact_key: IntArray
    flags: Mapping[str, BoolArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.file_id.shape[0]
        for name in ("report", "position", "seen_at", "pdq_ok"):
            _check_length(name, getattr(self, name), n)
        if self.pdq.shape != (n, 4):
            raise ValueError(f"column pdq must have shape ({n}, 4), has {self.pdq.shape}")
        _check_length("exact_key", self.exact_key, self.exact_file.shape[0])
        unknown = sorted(set(self.flags) - set(FILE_FLAGS))
        if unknown:
            raise ValueError(f"unknown file flag(s): {', '.join(unknown)}")
        for name, column in self.flags.items():
            _check_length(name, column, n)
        if n > 1 and not bool(np.all(np.diff(self.file_id) > 0)):
            raise ValueError("file ids must be unique and ascending")

    def __len__(self) -> int:
        return int(self.file_id.shape[0])

    def flag(self, name: str) -> BoolArray:
        if name not in FILE_FLAGS:
            raise KeyError(f"unknown file flag {name!r}")
        value = self.flags.get(name)
        return value if value is not None else np.zeros(len(self), dtype=np.bool_)


@dataclass(frozen=True)
class IdentifierTable:
    """Identifiers of reported users, pseudonymised: one entry per (report, identifier).

    ``key`` is a code of (kind, scope, pseudonym): equal codes mean the same identifier. ``is_ip``
    marks IP addresses, which link reports only when seen within the time window (``seen_at``).
    ``kind`` marks screen names (``SCREEN_NAME``) and provider account ids (``ACCOUNT_ID``): a
    screen name does not link reports that carry different account ids (``OTHER`` for the rest).
    """

    report: IntArray
    key: IntArray
    is_ip: BoolArray
    seen_at: IntArray
    kind: npt.NDArray[np.int8]

    def __post_init__(self) -> None:
        n = self.report.shape[0]
        for name in ("key", "is_ip", "seen_at", "kind"):
            _check_length(name, getattr(self, name), n)

    def __len__(self) -> int:
        return int(self.report.shape[0])


def take_files(files: FileTable, rows: IntArray) -> FileTable:
    """The files at ``rows`` (ascending positions), their exact hashes renumbered to match."""
    keep = np.zeros(len(files), dtype=np.bool_)
    keep[rows] = True
    new_position = np.cumsum(keep) - 1
    exact = keep[files.exact_file]
    return FileTable(
        file_id=files.file_id[rows],
        report=files.report[rows],
        position=files.position[rows],
        seen_at=files.seen_at[rows],
        pdq=files.pdq[rows],
        pdq_ok=files.pdq_ok[rows],
        exact_file=new_position[files.exact_file[exact]],
        exact_key=files.exact_key[exact],
        flags={name: column[rows] for name, column in files.flags.items()},
    )


def take_reports(
    reports: ReportTable, identifiers: IdentifierTable, rows: IntArray
) -> tuple[ReportTable, IdentifierTable]:
    """The reports at ``rows`` (ascending positions) and their identifiers, renumbered."""
    keep = np.zeros(len(reports), dtype=np.bool_)
    keep[rows] = True
    new_position = np.cumsum(keep) - 1
    chosen = keep[identifiers.report]
    return (
        ReportTable(
            report_id=reports.report_id[rows],
            received_at=reports.received_at[rows],
            provider=reports.provider[rows],
            signals={name: column[rows] for name, column in reports.signals.items()},
        ),
        IdentifierTable(
            report=new_position[identifiers.report[chosen]],
            key=identifiers.key[chosen],
            is_ip=identifiers.is_ip[chosen],
            seen_at=identifiers.seen_at[chosen],
            kind=identifiers.kind[chosen],
        ),
    )
