"""A parse worker's chunk reaches the writing process as it left: every record, row and hit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from psycopg.types.json import Json

from safeguarding.store import Store
from safeguarding.triage import transport
from safeguarding.triage.context import intake_context
from safeguarding.triage.generate import GeneratorConfig, generate
from safeguarding.triage.ingest import Document, _prepare_chunk
from safeguarding.triage.prepare import PreparedFile, PreparedReport
from safeguarding.triage.records import Rejected
from tests.triage.test_jsonl_csv import jsonl_report


def test_a_prepared_chunk_arrives_unchanged(store: Store, tmp_path: Path) -> None:
    # Reports, file details, a JSON line with its files and a refused document, prepared for the
    # store's dialect: SQLite's rows are plain values (marshal), PostgreSQL's hold datetimes.
    corpus = generate(GeneratorConfig(seed=7, reports=6))
    documents = []
    for name, data in corpus.documents():
        (tmp_path / name).write_bytes(data)
        documents.append(
            Document(str(tmp_path / name), "ncmec_xml", str(tmp_path / name), None, len(data))
        )
    (tmp_path / "lines.jsonl").write_text(json.dumps(jsonl_report(report_id="T-1")))
    (tmp_path / "broken.xml").write_bytes(b"<report><reportId>")
    for name, fmt in (("lines.jsonl", "jsonl"), ("broken.xml", "ncmec_xml")):
        path = tmp_path / name
        documents.append(Document(str(path), fmt, str(path), None, path.stat().st_size))
    context = intake_context(store)
    writer = context.writer("test", 1, datetime.now(UTC))
    context.matcher.load_search()
    result = _prepare_chunk(documents, context.options, writer, context.matcher, threads=1)
    items = [item for prepared in result[0] for item in prepared]
    assert {type(item) for item in items} == {PreparedReport, PreparedFile, Rejected}
    assert any(isinstance(item, PreparedReport) and item.files for item in items)
    encoded = transport.encode(result)
    assert encoded[:1] == (b"m" if store.dialect == "sqlite" else b"p")
    assert _comparable(transport.decode(encoded)) == _comparable(result)


def _comparable(value: object) -> object:
    """``value`` with each record's type kept and psycopg's ``Json`` binds (which compare by
    identity) read as their content."""
    if isinstance(value, Json):
        return ("Json", _comparable(value.obj))
    if isinstance(value, list | tuple):
        items = [_comparable(item) for item in value]
        return (type(value).__name__, *items)
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    return value


VALUES = st.one_of(
    st.none(), st.integers(), st.text(max_size=20), st.binary(max_size=20), st.booleans(),
    st.floats(allow_nan=False), st.datetimes(timezones=st.just(UTC)),
)  # fmt: skip


@given(
    values=st.lists(VALUES, max_size=6).map(tuple),
    hits=st.dictionaries(
        st.text(max_size=8), st.lists(st.tuples(st.integers(), st.integers(), st.integers()))
    ),
    rejected=st.booleans(),
)
def test_any_values_arrive_unchanged(
    values: tuple[object, ...], hits: dict[str, list[tuple[int, int, int]]], rejected: bool
) -> None:
    file = PreparedFile("R-1", "F-1", "d" * 64, ("a.xml", b"<x/>"), values, (values,), ())
    report = PreparedReport(
        "R-1", "e" * 64, ("a.jsonl:1", b"{}"), "jsonl", values, (), (), (), (file,)
    )
    chunk: list[list[PreparedReport | PreparedFile | Rejected]] = [[report], [file]]
    if rejected:
        chunk.append([Rejected("b.xml", "xml_malformed", "b.xml: not XML", b"<", "report", None)])
    result = (chunk, hits)
    assert transport.decode(transport.encode(result)) == result
