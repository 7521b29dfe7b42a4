"""Stable integer codes for exact hashes and identifiers, kept from one triage run to the next.

Clustering joins files on exact hashes ("md5:…") and reports on identifiers (kind, scope,
pseudonym) through integer codes. A code of a run must mean the same hash in the next run, so
that earlier results can be kept and only new rows read: codes are handed out in order of first
sight by a ``KeyDictionary`` and never change.

The dictionary holds each distinct value as a fixed 128-bit key (two ``uint64`` words) instead of
its text. The key is the value's first 128 bits when it is hex of at least 32 digits (MD5, SHA-1
and SHA-256 digests, and identifier pseudonyms, which are 128-bit keyed HMACs), XORed with a
128-bit constant of its namespace (hash kind, or identifier kind and scope; BLAKE2b of the name).
Within a namespace equal keys therefore mean equal digest prefixes: exact for MD5 and pseudonyms,
and for SHA-1/SHA-256 two different digests agree on 128 bits only by a collision of the hash
function itself. Across namespaces, and for values that are not hex (hashed whole with BLAKE2b
to 128 bits), two distinct values meet by chance with probability 2**-128 per pair: at ten
million keys about 1.5e-25, far below any hardware error rate, and nobody outside can steer it
(pseudonyms are keyed, digests would need a preimage).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from safeguarding.triage.unionfind import IntArray

U64 = npt.NDArray[np.uint64]
_HEX_DIGITS = 32
_HEX = f"^[0-9a-f]{{{_HEX_DIGITS},}}$"


def _blake(text: str) -> tuple[int, int]:
    digest = hashlib.blake2b(text.encode(), digest_size=16, person=b"sg-triage-key").digest()
    return int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:], "big")


def keys128(namespaces: pl.Series, values: pl.Series) -> tuple[U64, U64]:
    """The 128-bit key of every (namespace, value) pair as (high word, low word).

    ``values`` are compared in lower case (digests are stored that way; pseudonyms are hex).
    """
    n = values.len()
    high = np.zeros(n, dtype=np.uint64)
    low = np.zeros(n, dtype=np.uint64)
    if n == 0:
        return high, low
    frame = pl.DataFrame(
        {"space": namespaces.cast(pl.String).fill_null(""), "value": values.cast(pl.String)}
    ).with_columns(pl.col("value").fill_null("").str.to_lowercase())
    is_hex = frame["value"].str.contains(_HEX).to_numpy()
    at = np.flatnonzero(is_hex)
    if at.size:
        prefix = frame["value"].filter(pl.Series(is_hex)).str.slice(0, _HEX_DIGITS)
        words = np.frombuffer(bytes.fromhex("".join(prefix.to_list())), dtype=">u8")
        words = words.astype(np.uint64).reshape(-1, 2)
        high[at], low[at] = words[:, 0], words[:, 1]
    for at_other in np.flatnonzero(~is_hex).tolist():  # rare: values that are not digests
        high[at_other], low[at_other] = _blake("value\x1f" + frame["value"][at_other])
    spaces, space_of = np.unique(frame["space"].to_numpy().astype(str), return_inverse=True)
    constants = np.array([_blake("space\x1f" + s) for s in spaces.tolist()], dtype=np.uint64)
    high ^= constants[space_of, 0]
    low ^= constants[space_of, 1]
    return high, low


@dataclass(frozen=True)
class KeyDictionary:
    """Distinct 128-bit keys in order of first sight; a key's code is its position."""

    high: U64
    low: U64

    @staticmethod
    def empty() -> KeyDictionary:
        return KeyDictionary(np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64))

    def __len__(self) -> int:
        return int(self.high.shape[0])

    def encode(self, high: U64, low: U64) -> tuple[IntArray, KeyDictionary]:
        """Codes of the given keys, and the dictionary with the keys it did not know appended
        (in order of first sight, so earlier codes never move)."""
        n = high.shape[0]
        if n == 0:
            return np.zeros(0, dtype=np.int64), self
        query = pl.DataFrame({"h": high, "l": low}).with_row_index("at")
        distinct = query.unique(subset=["h", "l"], keep="first", maintain_order=True)
        # A hash-set probe on one word mixing both halves narrows a million known keys to the
        # few candidates cheaply (either half alone can be the same for all keys: values that
        # are short numbers padded with zeros); the exact join on both words then runs on small
        # frames.
        probe = pl.Series(self.high ^ self.low)
        wanted = pl.Series(distinct["h"].to_numpy() ^ distinct["l"].to_numpy())
        hit = probe.is_in(wanted.implode()).to_numpy()
        at = np.flatnonzero(hit)
        candidates = pl.DataFrame(
            {"h": self.high[at], "l": self.low[at], "code": at.astype(np.int64)}
        )
        joined = distinct.join(candidates, on=["h", "l"], how="left", maintain_order="left")
        missing = joined["code"].is_null().to_numpy()
        fresh_high = joined["h"].to_numpy()[missing].astype(np.uint64)
        fresh_low = joined["l"].to_numpy()[missing].astype(np.uint64)
        codes = joined["code"].fill_null(-1).to_numpy().astype(np.int64)
        codes[missing] = len(self) + np.arange(int(missing.sum()), dtype=np.int64)
        coded = distinct.select("h", "l").with_columns(pl.Series("code", codes))
        result = query.join(coded, on=["h", "l"], how="left", maintain_order="left")["code"]
        grown = KeyDictionary(
            np.concatenate([self.high, fresh_high]), np.concatenate([self.low, fresh_low])
        )
        return result.to_numpy().astype(np.int64), grown
