"""PDQ hashes as numbers: 64 hex digits ↔ four big-endian uint64 words, and Hamming distances.

The word form is what the index stores and what numpy compares fast: XOR, then a population count
per word (``np.bitwise_count``), summed over the four words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

PDQ_BITS = 256
WORDS = 4

Words = npt.NDArray[np.uint64]

# PDQ sets a bit where a DCT coefficient exceeds their median, so a real image's hash has about
# half its bits set. A blank frame hashes to all zeros (every coefficient ties the median), and a
# hash with fewer than 32 bits set, or more than 256 - 32, is within every supported match
# threshold (at most 31 bits) of the all-zero or all-one hash: such hashes say "flat picture", not
# which picture, and would make every flat picture one near-duplicate of every other.
MIN_SET_BITS = 32


def hex_to_words(values: Sequence[str]) -> Words:
    """``(n, 4)`` uint64 words of ``n`` PDQ hashes given as 64-digit hex (already validated)."""
    if not values:
        return np.zeros((0, WORDS), dtype=np.uint64)
    raw = bytes.fromhex("".join(values))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, WORDS)


def informative(words: Words) -> npt.NDArray[np.bool_]:
    """Which hashes (rows of ``words``) have at least ``MIN_SET_BITS`` bits set and at least as
    many clear: those that can tell one picture from another."""
    set_bits = np.bitwise_count(words).sum(axis=-1, dtype=np.int64)
    result: npt.NDArray[np.bool_] = (set_bits >= MIN_SET_BITS) & (
        set_bits <= PDQ_BITS - MIN_SET_BITS
    )
    return result


def words_to_hex(words: Words) -> list[str]:
    """The 64-digit hex form of each row of ``words``."""
    raw = np.ascontiguousarray(words, dtype=np.uint64).astype(">u8").tobytes()
    return [raw[i : i + 32].hex() for i in range(0, len(raw), 32)]


def bits_to_hex(bits: npt.NDArray[np.integer]) -> str:
    """The hex form of a 256-element 0/1 vector, first element the most significant bit."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def distances(a: Words, b: Words) -> npt.NDArray[np.int64]:
    """Row-wise Hamming distance between two ``(n, 4)`` word arrays (or one row broadcast)."""
    counts: npt.NDArray[np.int64] = np.bitwise_count(np.bitwise_xor(a, b)).sum(
        axis=-1, dtype=np.int64
    )
    return counts


def hex_distance(a: str, b: str) -> int:
    """Hamming distance of two PDQ hashes in hex form."""
    return int(distances(hex_to_words([a]), hex_to_words([b]))[0])
