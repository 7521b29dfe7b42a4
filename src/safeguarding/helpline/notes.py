"""The counsellor's note: encrypted at rest, kept for a limited time, never exported.

A note can hold what makes a caller recognisable, so it is stored only as AES-256-GCM ciphertext
under a key derived (HKDF-SHA256) from the ``notes`` secret, which lives outside the database. The
contact's import key is bound in as associated data, so a ciphertext moved to another contact
does not decrypt. Every note carries an expiry date (``[helpline] note_retention_days``, default
90); ``safeguarding helpline purge-notes`` deletes expired notes and ``read_note`` refuses them.

Notes sit in their own table. Statistics, listings and exports never read that table; there is no
command that prints a note.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from safeguarding.errors import ConfigError, SafeguardingError
from safeguarding.store.models.helpline import HelplineContactRow, HelplineNoteRow

DEFAULT_RETENTION_DAYS = 90
MAX_RETENTION_DAYS = 3650
_NONCE_BYTES = 12
_HKDF_INFO = b"safeguarding helpline notes v1"


def retention_days(options: dict[str, Any]) -> int:
    """The configured retention (``[helpline] note_retention_days``), checked."""
    value = options.get("note_retention_days", DEFAULT_RETENTION_DAYS)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= MAX_RETENTION_DAYS
    ):
        raise ConfigError(
            f"[helpline] note_retention_days must be a whole number of days, 1-{MAX_RETENTION_DAYS}"
        )
    return value


@dataclass(frozen=True)
class SealedNote:
    nonce: bytes
    ciphertext: bytes


class NoteCipher:
    """AES-GCM under a key derived from the notes secret; the key never leaves this object."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the notes secret must be at least 32 bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "NoteCipher(key=<hidden>)"

    def seal(self, text: str, *, bound_to: str) -> SealedNote:
        nonce = os.urandom(_NONCE_BYTES)
        return SealedNote(nonce, self._aead.encrypt(nonce, text.encode(), bound_to.encode()))

    def open(self, sealed: SealedNote, *, bound_to: str) -> str:
        try:
            return self._aead.decrypt(sealed.nonce, sealed.ciphertext, bound_to.encode()).decode()
        except InvalidTag as exc:
            raise SafeguardingError(
                "a note does not decrypt: wrong notes key, or the note was moved or altered"
            ) from exc


def note_row(
    cipher: NoteCipher, contact_id: int, import_key: str, text: str, expires_at: datetime
) -> dict[str, Any]:
    """The values of a note row for ``contact_id``, encrypted and bound to its import key."""
    sealed = cipher.seal(text, bound_to=import_key)
    return {
        "contact_id": contact_id,
        "nonce": sealed.nonce,
        "ciphertext": sealed.ciphertext,
        "expires_at": expires_at,
    }


def expiry(now: datetime, days: int) -> datetime:
    return now + timedelta(days=days)


def read_note(
    session: Session, cipher: NoteCipher, contact_id: int, *, now: datetime | None = None
) -> str | None:
    """The note of one contact for a counsellor's screen, or None (no note, or expired)."""
    row = session.execute(
        select(HelplineNoteRow, HelplineContactRow.import_key)
        .join(HelplineContactRow, HelplineContactRow.id == HelplineNoteRow.contact_id)
        .where(HelplineNoteRow.contact_id == contact_id)
    ).first()
    if row is None:
        return None
    note, import_key = row
    if _aware(note.expires_at) <= (now or datetime.now(UTC)):
        return None
    return cipher.open(SealedNote(note.nonce, note.ciphertext), bound_to=import_key)


def purge_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete every note past its expiry; returns how many were deleted."""
    cutoff = now or datetime.now(UTC)
    expired = session.scalar(
        select(func.count())
        .select_from(HelplineNoteRow)
        .where(HelplineNoteRow.expires_at <= cutoff)
    )
    session.execute(delete(HelplineNoteRow).where(HelplineNoteRow.expires_at <= cutoff))
    return int(expired or 0)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
