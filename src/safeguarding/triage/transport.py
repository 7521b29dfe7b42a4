"""What a parse worker sends the writing process: a chunk's prepared records and PDQ hits.

The executor would pickle them. A prepared record is a named tuple, which pickle writes as a call
of the class and reads back through the class's Python constructor, one call per record each way;
and the writing process spends its time reading them while the store waits. So records travel as
plain tuples tagged with their type, written by ``marshal`` (which takes only plain values), and
are made records again on arrival: over a benchmark's chunks, writing took half of pickle's time
and reading, records made again included, about as long as unpickling. Where the rows hold values
``marshal`` does not take (datetimes, bound for PostgreSQL), the chunk travels pickled. Both ends
are this program, of one version: ``marshal``'s format is never stored.
"""

from __future__ import annotations

import marshal
import pickle
from typing import Any

from safeguarding.triage.matching import PDQHits
from safeguarding.triage.prepare import Prepared, PreparedFile, PreparedReport
from safeguarding.triage.records import Rejected

ChunkResult = tuple[list[list[Prepared]], PDQHits]

_MARSHAL = b"m"
_PICKLE = b"p"
_REPORT, _FILE, _REJECTED = 0, 1, 2


def encode(result: ChunkResult) -> bytes:
    """``result`` as bytes for ``decode``."""
    results, hits = result
    try:
        return _MARSHAL + marshal.dumps(([[_plain(item) for item in p] for p in results], hits))
    except ValueError:  # a value that is not a plain one
        return _PICKLE + pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)


def decode(data: bytes) -> ChunkResult:
    """The chunk result ``encode`` wrote."""
    body = memoryview(data)[1:]
    if data[:1] == _PICKLE:
        result: ChunkResult = pickle.loads(body)  # noqa: S301 (written by ``encode``)
        return result
    plain, hits = marshal.loads(body)  # noqa: S302 (written by ``encode``)
    return [[_typed(item) for item in p] for p in plain], hits


def _plain(item: Prepared) -> tuple[Any, ...]:
    if isinstance(item, PreparedReport):
        return (_REPORT, *item[:-1], tuple(tuple(file) for file in item.files))
    if isinstance(item, PreparedFile):
        return (_FILE, *item)
    return (
        _REJECTED, item.location, item.rule, item.message, item.raw, item.kind,
        item.provider_report_id,
    )  # fmt: skip


def _typed(item: tuple[Any, ...]) -> Prepared:
    tag = item[0]
    if tag == _REPORT:
        files = tuple(PreparedFile._make(file) for file in item[-1])
        return PreparedReport._make((*item[1:-1], files))
    if tag == _FILE:
        return PreparedFile._make(item[1:])
    return Rejected(*item[1:])
