"""Notes: sealed with AES-GCM, bound to their contact, expire, and are purged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from safeguarding.errors import ConfigError, SafeguardingError
from safeguarding.helpline.importer import IngestKeys, PreparedContact, store_contacts
from safeguarding.helpline.notes import NoteCipher, purge_expired, read_note, retention_days
from safeguarding.helpline.schema import ContactReport
from safeguarding.store import Store
from safeguarding.store.models.helpline import HelplineContactRow, HelplineNoteRow

CIPHER = NoteCipher(b"s" * 32)
KEYS = IngestKeys(pseudonym_secret=b"p" * 32, cipher=CIPHER, note_retention_days=10)


def test_seal_and_open_round_trip_and_binding() -> None:
    sealed = CIPHER.seal("worried about his browsing", bound_to="key-1")
    assert b"browsing" not in sealed.ciphertext
    assert CIPHER.open(sealed, bound_to="key-1") == "worried about his browsing"
    assert CIPHER.seal("same", bound_to="k").nonce != CIPHER.seal("same", bound_to="k").nonce
    with pytest.raises(SafeguardingError, match="does not decrypt"):
        CIPHER.open(sealed, bound_to="key-2")
    with pytest.raises(SafeguardingError, match="does not decrypt"):
        NoteCipher(b"t" * 32).open(sealed, bound_to="key-1")
    assert "s" * 8 not in repr(CIPHER)


def test_retention_setting_is_checked() -> None:
    assert retention_days({}) == 90
    assert retention_days({"note_retention_days": 7}) == 7
    for bad in (0, -1, "30", True, 5000):
        with pytest.raises(ConfigError, match="note_retention_days"):
            retention_days({"note_retention_days": bad})


def _store_two(store: Store, now: datetime) -> list[int]:
    contacts = [
        PreparedContact(
            ContactReport(month="2023-01", contact_id=f"N{i}", note=f"note {i}"), f"key-{i}"
        )
        for i in range(2)
    ]
    with store.session() as session:
        store_contacts(session, contacts, KEYS, now=now)
    with store.session() as session:
        return list(session.scalars(select(HelplineContactRow.id).order_by(HelplineContactRow.id)))


def test_notes_expire_and_are_purged(store: Store) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    first, second = _store_two(store, start)
    with store.session() as session:
        # The second note was written later: push its expiry out.
        session.execute(
            update(HelplineNoteRow)
            .where(HelplineNoteRow.contact_id == second)
            .values(expires_at=start + timedelta(days=40))
        )
    with store.session() as session:
        assert read_note(session, CIPHER, first, now=start + timedelta(days=9)) == "note 0"
        assert read_note(session, CIPHER, first, now=start + timedelta(days=11)) is None
        assert purge_expired(session, now=start + timedelta(days=11)) == 1
    with store.session() as session:
        assert list(session.scalars(select(HelplineNoteRow.contact_id))) == [second]
        assert read_note(session, CIPHER, second, now=start + timedelta(days=11)) == "note 1"
        assert purge_expired(session, now=start + timedelta(days=11)) == 0


def test_purge_command(store: Store, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.cli_runner import invoke

    _store_two(store, datetime.now(UTC) - timedelta(days=11))
    result = invoke(capsys, "helpline", "purge-notes", "--json")
    assert result.code == 0
    assert result.out.replace(" ", "").replace("\n", "") == '{"deleted":2,"kept":0}'
