"""Import: errors name row and field, nothing is imported twice, notes are checked and sealed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from safeguarding.errors import ValidationError
from safeguarding.helpline.importer import (
    FIELDS,
    ImportOutcome,
    IngestKeys,
    import_file,
    prepare,
    read_records,
)
from safeguarding.helpline.notes import NoteCipher, read_note
from safeguarding.helpline.schema import (
    AGE_BANDS,
    HELP_NEEDS,
    RISK_FACTORS,
    ContactReport,
)
from safeguarding.store import Store
from safeguarding.store.models.helpline import (
    HelplineContactRow,
    HelplineNoteRow,
    HelplineRiskFactorRow,
)

KEYS = IngestKeys(pseudonym_secret=b"p" * 32, cipher=NoteCipher(b"n" * 32), note_retention_days=30)

HEADER = "contact_id,month,channel,contact_kind,caller_token,caller_type,concern,age_band,gender,risk_factors,help_needs,action,referral,note\n"  # noqa: E501


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def count(store: Store, table: type) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_errors_name_row_line_and_field(tmp_path: Path, store: Store) -> None:
    path = write(
        tmp_path / "contacts.csv",
        HEADER + "A1,2023-01,phone,first,,self_concerned,viewing_csam,18_21,male,"
        "escalating_pornography:stated,wants_to_stop,referral,forensic_outpatient,\n"
        + "A2,2023-02,fax,first,,,,,,,,,,\n"
        + "A3,2023-02,chat,first,,professional,viewing_csam,,,,,,,\n"
        + "A4,2023-02,chat,first,,,,,,escalating_pornography:maybe,,,,\n"
        + "A5,2023-14,chat,first,,,,,,,,,,\n",
    )
    with store.session() as session:
        outcome = import_file(session, path, KEYS)
    messages = [str(p) for p in outcome.rejected]
    assert messages[0].startswith("row 2 (line 3), field channel: must be 'phone'")
    assert messages[1].startswith("row 3 (line 4), field concern: only recorded for self_concerned")
    assert messages[2].startswith("row 4 (line 5), field risk_factors: must be 'stated'")
    assert messages[3].startswith("row 5 (line 6), field month: not a real date")
    assert (outcome.read, outcome.imported, outcome.rejected_rows) == (5, 1, 4)
    assert count(store, HelplineContactRow) == 1
    assert count(store, HelplineRiskFactorRow) == 1


def test_errors_say_what_the_field_needs(tmp_path: Path, store: Store) -> None:
    """Each row is refused for its own fault, in the words of the field it is about."""
    csv_path = write(
        tmp_path / "contacts.csv",
        HEADER + "A1,2023-01,chat,first,,self_concerned,,,,escalating_pornography,,,,\n"
        "A2,2023-01,chat,first,,pigeon,,,,,,,,\n"
        "A3,2099-12,chat,first,,,,,,,,,,\n",
    )
    mark = {"factor": "escalating_pornography", "basis": "stated", "weight": 2}
    jsonl_path = write(
        tmp_path / "contacts.jsonl",
        json.dumps({"month": "2023-01", "caller_type": "self_concerned", "risk_factors": [mark]})
        + "\n",
    )
    with store.session() as session:
        rejected = [str(p) for p in import_file(session, csv_path, KEYS).rejected]
        rejected += [str(p) for p in import_file(session, jsonl_path, KEYS).rejected]
    assert rejected[0] == (
        "row 1 (line 2), field risk_factors: must be factor:basis with basis stated or "
        "assessed, e.g. escalating_pornography:stated (item 0)"
    )
    # An unknown caller type is the only fault of its row: no word on the concern it decides.
    assert rejected[1].startswith("row 2 (line 3), field caller_type: must be 'self_concerned'")
    assert rejected[2].startswith("row 3 (line 4), field month: must not be after the current")
    assert rejected[3] == (
        "row 1 (line 1), field risk_factors: unknown field; known: factor, basis (item 0.weight)"
    )
    assert len(rejected) == 4


def test_jsonl_errors_and_values(tmp_path: Path, store: Store) -> None:
    good = {
        "month": "2023-03",
        "caller_type": "self_concerned",
        "risk_factors": [{"factor": "own_victimisation", "basis": "assessed"}],
        "help_needs": "wants_to_stop;crisis",
    }
    path = write(
        tmp_path / "c.jsonl",
        json.dumps(good)
        + "\n\n{not json\n"
        + json.dumps([1])
        + "\n"
        + json.dumps({"month": "2023-03", "age_band": 21})
        + "\n"
        + json.dumps({"month": "2023-03", "phone": "x"})
        + "\n",
    )
    with store.session() as session:
        outcome = import_file(session, path, KEYS)
    assert [str(p) for p in outcome.rejected] == [
        "row 2 (line 3), field record: not valid JSON (Expecting property name enclosed in "
        "double quotes)",
        "row 3 (line 4), field record: each line must be a JSON object",
        "row 4 (line 5), field age_band: must be 'under_18', '18_21', '22_26', '27_35', "
        "'36_plus' or 'unknown'",
        f"row 5 (line 6), field phone: unknown field; known: {', '.join(FIELDS)}",
    ]
    assert outcome.imported == 1


def test_file_level_errors_are_one_clear_line(tmp_path: Path, store: Store) -> None:
    with pytest.raises(ValidationError, match=r"unknown field\(s\) phone"):
        list(read_records(write(tmp_path / "a.csv", "month,phone\n2023-01,x\n")))
    with pytest.raises(ValidationError, match="no 'month' column"):
        list(read_records(write(tmp_path / "b.csv", "channel\nphone\n")))
    with pytest.raises(ValidationError, match="unknown file type .xlsx"):
        list(read_records(write(tmp_path / "c.xlsx", "")))
    bad = tmp_path / "d.csv"
    bad.write_bytes(b"month\n\xff\n")
    with pytest.raises(ValidationError, match="not UTF-8"):
        list(read_records(bad))


def test_reimport_never_duplicates_and_identical_rows_both_count(
    tmp_path: Path, store: Store
) -> None:
    row = ",2023-04,chat,first,,other,,27_35,male,,,information,none,\n"
    path = write(tmp_path / "c.csv", HEADER + row + row + "X9" + row)
    with store.session() as session:
        first = import_file(session, path, KEYS)
    with store.session() as session:
        second = import_file(session, path, KEYS)
    assert (first.imported, first.already_present) == (3, 0)
    assert (second.imported, second.already_present) == (0, 3)
    assert count(store, HelplineContactRow) == 3


def test_conflicting_contact_ids_in_one_file(tmp_path: Path, store: Store) -> None:
    path = write(
        tmp_path / "c.csv",
        HEADER + "K1,2023-04,chat,,,,,,,,,,,\nK1,2023-05,chat,,,,,,,,,,,\n",
    )
    with store.session() as session:
        outcome = import_file(session, path, KEYS)
    assert [str(p) for p in outcome.rejected] == [
        "row 2 (line 3), field contact_id: K1 appears earlier in this file with other values"
    ]


def test_identifiers_in_notes_refused_or_redacted(tmp_path: Path, store: Store) -> None:
    text = HEADER + "N1,2023-06,phone,,,,,,,,,,,call me on 06-12345678 tonight\n"
    path = write(tmp_path / "c.csv", text)
    with store.session() as session:
        refused = import_file(session, path, KEYS, policy="refuse")
    assert [str(p) for p in refused.rejected] == [
        "row 1 (line 2), field note: contains phone number ×1; remove it or import with --redact"
    ]
    assert count(store, HelplineContactRow) == 0
    with store.session() as session:
        redacted = import_file(session, path, KEYS, policy="redact")
    assert [str(p) for p in redacted.warnings] == [
        "row 1 (line 2), field note: redacted phone number ×1"
    ]
    assert "12345678" not in json.dumps(redacted.as_dict())
    with store.session() as session:
        contact_id = session.scalar(select(HelplineContactRow.id))
        assert contact_id is not None
        stored = session.scalar(select(HelplineNoteRow.ciphertext))
        assert stored is not None and b"call me" not in stored
        assert read_note(session, KEYS.cipher, contact_id) == (
            "call me on [phone number removed] tonight"
        )


def test_caller_token_is_stored_only_as_a_pseudonym(tmp_path: Path, store: Store) -> None:
    path = write(tmp_path / "c.csv", HEADER + "T1,2023-06,chat,first,blue-heron,,,,,,,,,\n")
    with store.session() as session:
        import_file(session, path, KEYS)
    with store.session() as session:
        key = session.scalar(select(HelplineContactRow.caller_key))
    assert key == KEYS.caller_key("blue-heron") and key is not None and "heron" not in key


# --- property: any valid report survives CSV and JSON Lines unchanged, and keys are stable ---

marks = st.lists(
    st.builds(
        lambda f, b: {"factor": f, "basis": b},
        st.sampled_from(RISK_FACTORS),
        st.sampled_from(["stated", "assessed"]),
    ),
    max_size=3,
    unique_by=lambda m: m["factor"],
)
reports = st.builds(
    lambda month, age, self_concerned, factors, needs, token, note: ContactReport.model_validate(
        {
            "month": month,
            "age_band": age,
            "caller_type": "self_concerned" if self_concerned else "relative_partner",
            "risk_factors": factors,
            "help_needs": needs,
            "caller_token": token,
            "note": note,
        }
    ),
    st.sampled_from(["2021-01", "2022-07", "2023-12"]),
    st.sampled_from(AGE_BANDS),
    st.booleans(),
    st.one_of(st.just("unknown"), marks),
    st.one_of(st.just("unknown"), st.lists(st.sampled_from(HELP_NEEDS), unique=True)),
    st.one_of(st.none(), st.sampled_from(["heron", "wolf_85", "x.y.z"])),
    st.one_of(st.none(), st.text(alphabet="abc ,;\"'\n", min_size=1, max_size=20)),
)


def as_csv(items: list[ContactReport]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for report in items:
        data = report.model_dump(mode="json")
        for name in ("risk_factors", "help_needs"):
            value = data[name]
            if value != "unknown":
                data[name] = (
                    ";".join(
                        f"{v['factor']}:{v['basis']}" if isinstance(v, dict) else v for v in value
                    )
                    or "none"
                )
        writer.writerow({k: "" if v is None else v for k, v in data.items()})
    return out.getvalue()


def as_jsonl(items: list[ContactReport]) -> str:
    return "".join(json.dumps(r.model_dump(mode="json")) + "\n" for r in items)


@settings(max_examples=40, deadline=None)
@given(st.lists(reports, max_size=8))
def test_reports_round_trip_through_both_formats(items: list[ContactReport]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        for name, text in (("c.csv", as_csv(items)), ("c.jsonl", as_jsonl(items))):
            path = write(Path(directory) / name, text)
            outcome = ImportOutcome(file=name)
            prepared = prepare(read_records(path), KEYS, "refuse", outcome)
            again = prepare(read_records(path), KEYS, "refuse", ImportOutcome(file=name))
            assert outcome.rejected == []
            expected = [r.model_copy(update={"note": r.note or None}) for r in items]
            assert [p.report for p in prepared] == expected
            keys = [p.import_key for p in prepared]
            assert keys == [p.import_key for p in again]
            assert len(set(keys)) == len(keys), "identical rows still get distinct keys"


def test_keys_come_from_the_store(store: Store) -> None:
    keys = IngestKeys.from_store(store)
    assert keys.note_retention_days == 90
    report = ContactReport(month="2023-01", contact_id="abc")
    assert keys.import_key(report, 0) == keys.import_key(report, 5)
