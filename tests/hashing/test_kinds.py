"""Hash kinds: one canonical form, and a named rule for every malformed value."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeguarding.hashing.kinds import (
    HEX_LENGTHS,
    InvalidHashError,
    normalise_hash,
    parse_kind,
)


@given(st.sampled_from(sorted(HEX_LENGTHS)), st.data())
def test_valid_hex_hashes_normalise_to_lower_case(kind: str, data: st.DataObject) -> None:
    raw = data.draw(st.binary(min_size=HEX_LENGTHS[kind] // 2, max_size=HEX_LENGTHS[kind] // 2))
    text = raw.hex().upper()
    assert normalise_hash(kind, f"  {text} ") == raw.hex()  # type: ignore[arg-type]


@given(st.text(max_size=80))
def test_anything_else_is_refused_with_a_rule(text: str) -> None:
    try:
        value = normalise_hash("md5", text)
    except InvalidHashError as exc:
        assert exc.rule in {"hash_not_hex", "hash_length"}
    else:
        assert len(value) == 32 and int(value, 16) >= 0


@pytest.mark.parametrize(
    ("kind", "value", "rule"),
    [
        ("md5", "abc", "hash_length"),
        ("sha1", "z" * 40, "hash_not_hex"),
        ("pdq", "0" * 32, "hash_length"),
        ("photodna", "!!!", "hash_not_base64"),
        ("photodna", base64.b64encode(bytes(10)).decode(), "hash_length"),
    ],
)
def test_malformed_hashes_name_their_rule(kind: str, value: str, rule: str) -> None:
    with pytest.raises(InvalidHashError) as caught:
        normalise_hash(kind, value)  # type: ignore[arg-type]
    assert caught.value.rule == rule


def test_photodna_accepts_base64_and_hex() -> None:
    raw = bytes(range(144))
    assert normalise_hash("photodna", raw.hex()) == base64.b64encode(raw).decode()
    assert (
        normalise_hash("photodna", base64.b64encode(raw).decode()) == base64.b64encode(raw).decode()
    )


def test_kind_names_from_the_field() -> None:
    assert parse_kind("SHA-1") == "sha1"
    assert parse_kind("PDNA") == "photodna"
    assert parse_kind("NETCLEAN") is None
