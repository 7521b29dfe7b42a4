"""Small hand-built triage tables for tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from safeguarding.triage.synthetic import SyntheticTriage
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
    return IdentifierTable(
        empty, empty, np.zeros(0, dtype=np.bool_), empty, np.zeros(0, dtype=np.int8)
    )


def chained(data: SyntheticTriage, seed: int, share: float = 0.1) -> SyntheticTriage:
    """``data`` with near-duplicate chains, which its families lack (a family lies within the
    threshold): a ``share`` of files become pictures 28 bits from another file's (a near copy of
    it), and as many again 28 bits from one of those (about 50 bits from the first: in its
    cluster through the picture between, yet no copy of it), each with exact hashes of its own."""
    rng = np.random.default_rng(seed)
    files = data.files
    n = len(files)
    order = rng.permutation(n)
    count = int(n * share)
    first, second, sources = order[:count], order[count : 2 * count], order[2 * count :]
    pdq = files.pdq.copy()
    for rows, origin in ((first, rng.choice(sources, count)), (second, rng.choice(first, count))):
        for row, source in zip(rows.tolist(), origin.tolist(), strict=True):
            pdq[row] = pdq[source]
            for bit in rng.choice(256, size=28, replace=False):
                pdq[row, bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    moved = np.isin(files.exact_file, order[: 2 * count])
    exact_key = files.exact_key.copy()
    exact_key[moved] = exact_key.max(initial=0) + 1 + np.arange(int(moved.sum()))
    return dataclasses.replace(data, files=dataclasses.replace(files, pdq=pdq, exact_key=exact_key))
