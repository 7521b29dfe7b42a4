"""A parse worker's documents taken step by step in groups: every document once, in order, and
no group holding more input than its bound unless it is one document alone."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeguarding.store import Store
from safeguarding.triage import ingest
from safeguarding.triage.context import intake_context
from safeguarding.triage.ingest import Document, _groups, _prepare_chunk, read_document
from safeguarding.triage.options import TriageOptions
from safeguarding.triage.records import Rejected

SIZES = st.lists(st.integers(min_value=0, max_value=3 * ingest._GROUP_BYTES), max_size=40)


@given(SIZES)
def test_groups_keep_every_document_in_order_within_their_bound(sizes: list[int]) -> None:
    documents = [
        Document(f"d{i}.xml", "ncmec_xml", f"d{i}.xml", None, s) for i, s in enumerate(sizes)
    ]
    groups = list(_groups(documents))
    assert [d for group in groups for d in group] == documents
    for group in groups:
        assert group
        assert len(group) == 1 or sum(d.size for d in group) <= ingest._GROUP_BYTES
    for group, following in pairwise(groups):
        # A group ends only where the next document would take it over its bound.
        assert sum(d.size for d in group) + following[0].size > ingest._GROUP_BYTES


def test_a_document_over_its_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"<report/>")
    options = TriageOptions(pdq_threshold=31, pdq_min_quality=50, max_document_bytes=4)
    document = Document(str(path), "ncmec_xml", str(path), None, path.stat().st_size)
    assert read_document(document, options) is None
    path.unlink()  # nothing reads it again: the refusal comes from its listed size alone
    [rejected] = ingest.parse(document, None, options)
    assert isinstance(rejected, Rejected) and rejected.rule == "document_too_large"
    assert rejected.message == f"{path}: 9 bytes, at most 4 allowed"


def test_a_chunk_of_several_groups_is_prepared_in_document_order(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Groups of one document each (a bound of one byte): the results still follow the
    documents, whatever group each was read in."""
    monkeypatch.setattr(ingest, "_GROUP_BYTES", 1)
    documents = []
    for i in range(3):
        path = tmp_path / f"r{i}.xml"
        path.write_bytes(f"<wrong{i}/>".encode())
        documents.append(Document(str(path), "ncmec_xml", str(path), None, path.stat().st_size))
    assert len(list(_groups(documents))) == 3
    context = intake_context(store)
    writer = context.writer("test", 1, datetime.now(UTC))
    results, hits = _prepare_chunk(documents, context.options, writer, context.matcher, threads=1)
    assert hits == {}
    locations = [
        item.location for prepared in results for item in prepared if isinstance(item, Rejected)
    ]
    assert locations == [f"{d.location}:/wrong{i}" for i, d in enumerate(documents)]
