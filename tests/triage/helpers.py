"""Small hand-built triage tables for tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from safeguarding.triage.tables import FileTable, IdentifierTable, ReportTable


def reports(n: int, **signals: Sequence[int]) -> ReportTable:
    return ReportTable(
        report_id=np.arange(1, n + 1, dtype=np.int64),
        received_at=np.arange(n, dtype=np.int64) * 3600,
        provider=np.zeros(n, dtype=np.int64),
        signals={k: np.asarray(v, dtype=np.int64) for k, v in signals.items()},
    )


def files(report_of_file: Sequence[int], **flags: Sequence[bool]) -> FileTable:
    """Files with random unrelated PDQ hashes and unique exact keys."""
    n = len(report_of_file)
    report = np.asarray(report_of_file, dtype=np.int64)
    position = np.zeros(n, dtype=np.int64)
    for i in range(n):
        position[i] = int((report[: i + 1] == report[i]).sum())
    rng = np.random.default_rng(n)
    return FileTable(
        file_id=np.arange(1, n + 1, dtype=np.int64),
        report=report,
        position=position,
        seen_at=np.zeros(n, dtype=np.int64),
        pdq=rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64),
        pdq_ok=np.ones(n, dtype=np.bool_),
        exact_file=np.arange(n, dtype=np.int64),
        exact_key=np.arange(n, dtype=np.int64),
        flags={k: np.asarray(v, dtype=np.bool_) for k, v in flags.items()},
    )


def no_identifiers() -> IdentifierTable:
    empty = np.zeros(0, dtype=np.int64)
    return IdentifierTable(empty, empty, np.zeros(0, dtype=np.bool_), empty)
