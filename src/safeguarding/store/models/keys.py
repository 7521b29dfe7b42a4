"""The fingerprints of the keys a store was written with (never the keys themselves).

Keys live in files in the data directory (``<home>/secrets/``), not in the database, so a
database can meet other keys than its own: restored without its key files, opened from another
data directory, or after an operator deleted them. New random keys would then be made without a
word, pseudonyms would stop linking to earlier ones and sealed records could not be opened. One
row per key name lets ``store.keys`` tell the key in use from the one the store was written with.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from safeguarding.store.base import Base


class KeyFingerprintRow(Base):
    """A key's name (``pseudonym``, ``notes``, ``session``) and a one-way fingerprint of it
    (``store.keys.fingerprint``), from which the key cannot be recovered."""

    __tablename__ = "key_fingerprint"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
