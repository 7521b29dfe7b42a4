"""Rows prepared away from the database (``triage.prepare``) are stored exactly as rows processed
at insert time, and the writer links them by the ids the database gives, across batches."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime, select, text
from sqlalchemy.dialects import sqlite

from safeguarding.disclosure.pseudonymise import Pseudonymiser
from safeguarding.store import Store
from safeguarding.store.models import ProviderReport
from safeguarding.triage import bulk, prepare
from safeguarding.triage.bulk import (
    insert_bound_returning_ids,
    insert_values_returning_ids,
    row_binder,
)
from safeguarding.triage.context import intake_context
from safeguarding.triage.generate import GeneratorConfig, generate, known_list, vics_json
from safeguarding.triage.prepare import REPORT_COLUMNS
from safeguarding.triage.records import (
    FileRecord,
    HashValue,
    Identifier,
    InternetDetail,
    Party,
    ReportRecord,
)
from safeguarding.triage.sealing import Sealer
from tests.cli_runner import invoke

WHEN = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)


def _report_values(report_id: str, when: datetime | None, names: list[str]) -> tuple[object, ...]:
    flags = [report_id.endswith("1"), False, True, False, False, report_id.endswith("2")]
    return (
        "src", report_id, "d" * 64, "jsonl", None, None, when, "Example", None, True, 12, None,
        WHEN, len(names), names, b"\x00sealed" if names else None, *flags,
    )  # fmt: skip


def test_bound_rows_are_stored_as_processed_rows_and_ids_follow_row_order(store: Store) -> None:
    rows = [
        _report_values(f"r{i}", WHEN if i % 2 else None, ["/report/x"] * (i % 3)) for i in range(7)
    ]
    with store.session() as session:
        processed_ids = insert_values_returning_ids(
            session, ProviderReport, REPORT_COLUMNS, [("a", *row[1:]) for row in rows]
        )
        bind = row_binder(session.connection().dialect, ProviderReport, REPORT_COLUMNS)
        bound_ids = insert_bound_returning_ids(
            session, ProviderReport, REPORT_COLUMNS, [bind(("b", *row[1:])) for row in rows]
        )
    assert len(set(processed_ids + bound_ids)) == 2 * len(rows)
    columns = [c for c in REPORT_COLUMNS if c != "source"]
    with store.session() as session:
        stored = {r.id: r for r in session.scalars(select(ProviderReport))}
        for processed_id, bound_id, row in zip(processed_ids, bound_ids, rows, strict=True):
            a, b = stored[processed_id], stored[bound_id]
            assert (a.source, b.source) == ("a", "b")
            assert a.provider_report_id == row[1]
            assert [getattr(a, c) for c in columns] == [getattr(b, c) for c in columns]
            assert a.unknown_element_names == row[14]


def test_bound_rows_are_stored_as_the_orm_stores_them(store: Store) -> None:
    values = dict(zip(REPORT_COLUMNS, _report_values("orm", WHEN, ["/report/x"]), strict=True))
    with store.session() as session:
        session.add(ProviderReport(**values))
        bind = row_binder(session.connection().dialect, ProviderReport, REPORT_COLUMNS)
        values["provider_report_id"] = "bound"
        insert_bound_returning_ids(
            session, ProviderReport, REPORT_COLUMNS, [bind(tuple(values.values()))]
        )
    with store.engine.connect() as connection:
        stored = connection.execute(
            text(
                "SELECT incident_time, received_at, escalated, annotation_spam,"
                " annotation_sextortion, unknown_element_names, ingest_run_id"
                " FROM provider_report ORDER BY provider_report_id DESC"
            )
        ).all()
    assert len(stored) == 2 and stored[0] == stored[1]


_OFFSETS = [None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))]


@settings(max_examples=300, deadline=None)
@given(st.datetimes(), st.sampled_from(_OFFSETS))
def test_sqlite_datetimes_are_bound_as_sqlalchemy_binds_them(
    value: datetime, offset: timezone | None
) -> None:
    dialect = sqlite.dialect()
    for aware in (False, True):
        reference = DateTime(timezone=aware).dialect_impl(dialect).bind_processor(dialect)
        fast = bulk._sqlite_datetime(reference)
        moment = value.replace(tzinfo=offset)
        assert fast(moment) == reference(moment)
        assert fast(moment.date()) == reference(moment.date())
        assert fast(None) is None


_JSON_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.binary(max_size=8)
    | st.datetimes(timezones=st.sampled_from([None, UTC]))
    | st.frozensets(st.text(max_size=4), max_size=3) | st.floats(allow_nan=False)
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(_JSON_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner))
)
def test_digests_are_the_sha256_of_the_sorted_compact_json(data: Any) -> None:
    # Stored digests decide whether a report sent again is the same: the text must never change.
    text_ = json.dumps(data, sort_keys=True, default=prepare._json_default, separators=(",", ":"))
    assert prepare._digest(data) == hashlib.sha256(text_.encode()).hexdigest()


# A report and a file with every kind of digested value, timestamps with offsets, fractions of a
# second and none: their digests as the intake stores them.
_AT = datetime(2026, 3, 4, 5, 6, 7)
_PINNED_REPORT = ReportRecord(
    "r-pinned",
    "ncmec_xml",
    "Online Enticement of Children for Sexual Acts",
    _AT.replace(microsecond=890_000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    "Example Provider",
    "Example Chat",
    40,
    True,
    frozenset({"sextortion", "sadisticOnlineExploitation"}),
    parties=(
        Party(
            "reported_user",
            "Example Chat",
            17,
            True,
            None,
            False,
            2,
            "NL",
            "Example Region",
            (
                Identifier("email", "a@example.org"),
                Identifier("ip", "192.0.2.1", "", "Login", _AT.replace(tzinfo=UTC)),
                Identifier("device_id", "dev-1", "IMEI", None, _AT),
            ),
            (Party("associated_account", "Other", identifiers=(Identifier("screen_name", "x"),)),),
        ),
    ),
    internet_details=(
        InternetDetail("web_page", None, ("example.org",), False, (Identifier("phone", "+1555"),)),
    ),
    unknown_elements=(("/report/extra", b"<extra>1</extra>"),),
)
_PINNED_FILE = FileRecord(
    "f-pinned", "upload.jpg", _AT.replace(microsecond=1, tzinfo=UTC), "Reported", True, None,
    False, frozenset({"potentialMeme"}), "A1", (HashValue("md5", "0" * 32),),
    (Identifier("ip", "192.0.2.2", "", "Upload", _AT.replace(microsecond=123_456, tzinfo=UTC)),),
)  # fmt: skip


_REPORT_DIGEST = "786a5be93cc9455ce69dd941677738e76802cfcfee4b2e03fe642ef8d5c47045"
_FILE_DIGEST = "ae80282d6619d94ffccb3e00ab4255a858a0fa50cc2ece7399444a0256417b0c"


def test_stored_digests_keep_their_text() -> None:
    # A report or file sent again is unchanged when its digest equals the stored one: a change
    # in what is digested, or in how (timestamps are digested as their ``isoformat()``), would
    # turn every report stored before it into a conflict.
    preparer = prepare.Preparer(
        "src", Pseudonymiser(b"p" * 32), Sealer(b"s" * 32), sqlite.dialect(), received_at=WHEN
    )
    assert preparer.report_digest(_PINNED_REPORT) == _REPORT_DIGEST
    assert preparer.file_digest(_PINNED_FILE) == _FILE_DIGEST


def _party(role: str, name: str, associated: tuple[Party, ...] = ()) -> Party:
    return Party(
        role,  # type: ignore[arg-type]
        esp_service=name,
        identifiers=(
            Identifier("screen_name", f"{name}-a", name),
            Identifier("email", f"{name}@x"),
        ),
        associated=associated,
    )


def _report(number: int) -> ReportRecord:
    tag = f"r{number}"
    user = _party(
        "reported_user",
        f"{tag}-user",
        (
            _party(
                "associated_account", f"{tag}-alt", (_party("associated_account", f"{tag}-alt2"),)
            ),
        ),
    )
    parties = (user, _party("victim", f"{tag}-victim")) if number % 2 else (user,)
    return ReportRecord(f"{tag}", "jsonl", incident_time=WHEN, parties=parties)


def test_parties_and_identifiers_keep_their_parents_across_batches(store: Store) -> None:
    context = intake_context(store)
    writer = context.writer("src", None, WHEN)
    for batch in ([_report(i) for i in range(5)], [_report(i) for i in range(5, 9)]):
        with store.session() as session:
            assert writer.write(session, batch, []).reports_stored == len(batch)
    with store.engine.connect() as connection:
        parties = connection.execute(
            text(
                "SELECT p.id, p.esp_service, p.parent_id, r.provider_report_id"
                " FROM report_party p JOIN provider_report r ON r.id = p.report_id"
            )
        ).all()
        identifiers = connection.execute(
            text("SELECT party_id, kind, pseudonym, scope FROM party_identifier")
        ).all()
    by_id = {party_id: (service, parent, report) for party_id, service, parent, report in parties}
    assert len(by_id) == sum(4 if i % 2 else 3 for i in range(9))
    for service, parent, report in by_id.values():
        assert service.startswith(f"{report}-")
        expected_parent = {"alt": "user", "alt2": "alt"}.get(service.split("-", 1)[1])
        if expected_parent is None:
            assert parent is None
        else:
            assert by_id[parent][0] == f"{report}-{expected_parent}"
            assert by_id[parent][2] == report
    assert len(identifiers) == 2 * len(by_id)
    for party_id, kind, pseudonym, scope in identifiers:
        service = by_id[party_id][0]
        value = f"{service}-a" if kind == "screen_name" else f"{service}@x"
        assert pseudonym == context.pseudonymiser.pseudonym(kind, value, scope=scope)
        assert scope == (service if kind == "screen_name" else "")


def test_matching_the_hashes_in_hand_finds_what_reading_them_back_finds(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    corpus = generate(GeneratorConfig(seed=8, reports=30, families=10, subjects=6))
    corpus.write_ncmec(tmp_path / "in")
    (tmp_path / "known.json").write_bytes(vics_json(known_list(corpus, families=4, seed=2)))
    assert (
        invoke(capsys, "hashlist", "import", str(tmp_path / "known.json"), "--name", "k").code == 0
    )
    assert invoke(capsys, "ingest", str(tmp_path / "in")).code == 0
    context = intake_context(store)
    with store.session() as session:
        context.matcher.sync(session)
        hashes = [
            tuple(row)
            for row in session.execute(text("SELECT file_id, kind, value, quality FROM file_hash"))
        ]
        read_back = set(context.matcher.find(session, sorted({row[0] for row in hashes})))
        in_hand = context.matcher.find_hashes(session, hashes)
    assert {m.hash_kind for m in read_back} == {"md5", "pdq"}
    assert len(in_hand) == len(read_back) and set(in_hand) == read_back
