"""Sealing raw input that must be kept but may hold personal data (quarantined records, unknown
XML elements): AES-GCM under the ``notes`` key, which lives in the data directory's secrets, never
in the database. A sealed value is ``nonce (12 bytes) || ciphertext+tag``; the purpose string is
bound as associated data, so a value sealed for one use cannot be opened as another.

A sealed value is random each time, so finding the same input again needs a digest. A plain hash
of a short input (one rejected line holding an e-mail address) could be confirmed by hashing
guesses; ``digest`` is keyed (HMAC-SHA-256 under a key derived from the same secret) instead.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from safeguarding.errors import SafeguardingError

_NONCE = 12


class Sealer:
    """Seals and opens bytes; the key never leaves this object."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("sealing key must be at least 32 bytes")
        self._aead = AESGCM(key[:32])
        self._digest_key = hmac.digest(key, b"safeguarding sealed-input digest", "sha256")

    def __repr__(self) -> str:
        return "Sealer(key=<hidden>)"

    def seal(self, data: bytes, purpose: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, data, purpose.encode())

    def digest(self, data: bytes, purpose: str) -> str:
        """A keyed digest of ``data`` for ``purpose`` (hex): equal inputs, equal digests."""
        message = purpose.encode() + b"\0" + data
        return hmac.new(self._digest_key, message, hashlib.sha256).hexdigest()

    def open(self, sealed: bytes, purpose: str) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], purpose.encode())
        except InvalidTag as exc:
            raise SafeguardingError(
                "cannot open sealed data: it was sealed with another notes key or altered"
            ) from exc
