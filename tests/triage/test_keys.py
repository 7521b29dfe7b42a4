"""Stable codes for exact hashes and identifiers across runs."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.triage.keys import KeyDictionary, keys128

HEX = st.text("0123456789abcdefABCDEF", min_size=32, max_size=64)
VALUE = st.one_of(HEX, st.text(max_size=12))
SPACE = st.sampled_from(["md5", "sha1", "email\x1f", "esp_id\x1fExampleChat"])


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(SPACE, VALUE), max_size=40), cut=st.integers(0, 40))
def test_codes_are_equal_exactly_for_equal_values_and_never_move(
    pairs: list[tuple[str, str]], cut: int
) -> None:
    spaces = pl.Series([p[0] for p in pairs], dtype=pl.String)
    values = pl.Series([p[1] for p in pairs], dtype=pl.String)
    high, low = keys128(spaces, values)
    at_once, whole = KeyDictionary.empty().encode(high, low)
    first, grown = KeyDictionary.empty().encode(high[:cut], low[:cut])
    rest, grown = grown.encode(high[cut:], low[cut:])
    # Encoding in two runs hands out the same codes as encoding everything at once.
    assert np.array_equal(np.concatenate([first, rest]), at_once)
    assert np.array_equal(grown.high, whole.high) and np.array_equal(grown.low, whole.low)
    # Equal codes exactly for equal (namespace, value), values compared in lower case.
    normal = [(s, v.lower()) for s, v in pairs]
    for i in range(len(pairs)):
        for j in range(len(pairs)):
            assert (at_once[i] == at_once[j]) == (normal[i] == normal[j])
    # Codes are dense, in order of first sight.
    seen: list[tuple[str, str]] = []
    for pair in normal:
        if pair not in seen:
            seen.append(pair)
    assert [seen.index(p) for p in normal] == at_once.tolist()


def test_a_hex_key_is_its_digest_prefix_under_the_namespace_constant() -> None:
    digest = "0123456789abcdef" * 4
    md5_high, md5_low = keys128(pl.Series(["md5", "md5"]), pl.Series([digest[:32], digest]))
    # MD5 and a longer digest with the same first 128 bits: equal keys in one namespace...
    assert md5_high[0] == md5_high[1] and md5_low[0] == md5_low[1]
    # ...and the digest's bits survive: XOR of two namespaces' keys is independent of the value.
    sha_high, _ = keys128(pl.Series(["sha1"]), pl.Series([digest]))
    other_high, _ = keys128(pl.Series(["md5", "sha1"]), pl.Series(["f" * 32, "f" * 32]))
    assert md5_high[0] ^ sha_high[0] == other_high[0] ^ other_high[1]


def test_keys_sharing_one_half_are_told_apart_and_keep_their_codes() -> None:
    # Short numbers as zero-padded hex: every key's high word is the same; low words differ.
    values = pl.Series([f"{n:032x}" for n in (5, 9, 5, 12, 9)])
    high, low = keys128(pl.Series(["md5"] * 5), values)
    assert len(set(high.tolist())) == 1
    codes, dictionary = KeyDictionary.empty().encode(high, low)
    assert codes.tolist() == [0, 1, 0, 2, 1] and len(dictionary) == 3
    more_high, more_low = keys128(
        pl.Series(["md5"] * 3), pl.Series([f"{n:032x}" for n in (12, 7, 5)])
    )
    again, grown = dictionary.encode(more_high, more_low)
    assert again.tolist() == [2, 3, 0] and len(grown) == 4
