"""The hash kinds the system knows, and the one canonical text form of each.

Cryptographic hashes (md5, sha1, sha256) and PDQ are lower-case hexadecimal of a fixed length;
PhotoDNA is 144 bytes, kept as base64 (it is stored, never matched: its algorithm is licensed).
Every value from outside goes through ``normalise_hash``, which says what is wrong when it is wrong.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

HashKind = Literal["md5", "sha1", "sha256", "pdq", "photodna"]
HASH_KINDS: tuple[HashKind, ...] = ("md5", "sha1", "sha256", "pdq", "photodna")
EXACT_KINDS: tuple[HashKind, ...] = ("md5", "sha1", "sha256")
HEX_LENGTHS: dict[HashKind, int] = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}
PHOTODNA_BYTES = 144

_ALIASES: dict[str, HashKind] = {
    "md5": "md5",
    "sha1": "sha1",
    "sha-1": "sha1",
    "sha256": "sha256",
    "sha-256": "sha256",
    "pdq": "pdq",
    "photodna": "photodna",
    "pdna": "photodna",
}
_HEX = re.compile(r"[0-9a-f]*")


class InvalidHashError(ValueError):
    """A hash value that is not of its kind; ``rule`` names what was broken."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def parse_kind(name: str) -> HashKind | None:
    """The kind named by ``name`` (``MD5``, ``SHA-1``, ``PhotoDNA`` ...), or None if unknown."""
    return _ALIASES.get(name.strip().lower())


def normalise_hash(kind: HashKind, value: str) -> str:
    """The canonical form of ``value`` as a ``kind`` hash; raises ``InvalidHashError`` otherwise."""
    text = value.strip()
    if kind == "photodna":
        return _normalise_photodna(text)
    lowered = text.lower()
    expected = HEX_LENGTHS[kind]
    if not _HEX.fullmatch(lowered):
        raise InvalidHashError(f"{kind} hash is not hexadecimal: {_preview(text)}", "hash_not_hex")
    if len(lowered) != expected:
        raise InvalidHashError(
            f"{kind} hash has {len(lowered)} hex digits, expected {expected}", "hash_length"
        )
    return lowered


def _normalise_photodna(text: str) -> str:
    compact = "".join(text.split())
    raw: bytes
    if len(compact) == 2 * PHOTODNA_BYTES and _HEX.fullmatch(compact.lower()):
        raw = bytes.fromhex(compact)
    else:
        try:
            raw = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidHashError(
                f"photodna hash is neither base64 nor hex: {_preview(text)}", "hash_not_base64"
            ) from exc
    if len(raw) != PHOTODNA_BYTES:
        raise InvalidHashError(
            f"photodna hash has {len(raw)} bytes, expected {PHOTODNA_BYTES}", "hash_length"
        )
    return base64.b64encode(raw).decode("ascii")


def _preview(text: str) -> str:
    return repr(text[:40] + ("…" if len(text) > 40 else ""))
