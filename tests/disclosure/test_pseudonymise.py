"""Pseudonyms: stable under trivial variants, keyed, and not the identifier."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from safeguarding.disclosure.pseudonymise import (
    IDENTIFIER_KINDS,
    PSEUDONYM_LENGTH,
    IdentifierKind,
    Pseudonymiser,
    normalise,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def test_trivial_variants_link() -> None:
    p = Pseudonymiser(KEY)
    assert p.pseudonym("email", "Alice@Example.org ") == p.pseudonym("email", "alice@example.org")
    assert p.pseudonym("phone", "+31 6 1234 5678") == p.pseudonym("phone", "0031612345678")
    assert p.pseudonym("ip", "2001:db8:0:0::1") == p.pseudonym("ip", "2001:db8::1")
    assert p.pseudonym("screen_name", "@Bob") == p.pseudonym("screen_name", "bob")


def test_kind_and_scope_separate_namespaces() -> None:
    p = Pseudonymiser(KEY)
    assert p.pseudonym("esp_id", "123", scope="svc-a") != p.pseudonym(
        "esp_id", "123", scope="svc-b"
    )
    assert p.pseudonym("esp_id", "123") != p.pseudonym("device_id", "123")


@given(st.emails())
def test_pseudonym_depends_on_key_and_hides_the_value(email: str) -> None:
    a = Pseudonymiser(KEY).pseudonym("email", email)
    b = Pseudonymiser(OTHER_KEY).pseudonym("email", email)
    assert a != b
    assert len(a) == 32 and all(c in "0123456789abcdef" for c in a)
    assert email.lower() not in a
    assert "key" not in repr(Pseudonymiser(KEY)).replace("key=<hidden>", "")


@given(
    text=st.one_of(
        st.tuples(*[st.integers(0, 300)] * 4).map(lambda o: ".".join(map(str, o))),
        st.ip_addresses(v=4).map(str),
        st.from_regex(r"\A[0-9.]{1,16}\Z"),
        st.ip_addresses(v=6).map(lambda a: a.exploded.upper()),
    )
)
def test_ip_addresses_are_normalised_as_ipaddress_writes_them(text: str) -> None:
    try:
        expected = str(ipaddress.ip_address(text))
    except ValueError:
        expected = text.lower()
    assert normalise("ip", text) == expected


@given(
    key=st.binary(min_size=32, max_size=200),
    kind=st.sampled_from(IDENTIFIER_KINDS),
    value=st.text(max_size=80),
    scope=st.text(max_size=20),
)
def test_pseudonym_is_the_standard_hmac_sha256_for_any_key_length(
    key: bytes, kind: IdentifierKind, value: str, scope: str
) -> None:
    """Keys longer than SHA-256's 64-byte block are hashed first, as RFC 2104 says."""
    message = f"{kind}\x1f{scope}\x1f{normalise(kind, value)}".encode()
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()[:PSEUDONYM_LENGTH]
    pseudonymiser = Pseudonymiser(key)
    assert pseudonymiser.pseudonym(kind, value, scope=scope) == expected
    assert pseudonymiser.pseudonym(kind, value, scope=scope) == expected  # states not used up
