"""Direct identifiers in free text: found, redacted, and the usual numbers left alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeguarding.helpline.identifiers import ADDRESS_WORDS, describe, find_identifiers, redact

CRAFTED = [
    ("bel me op 06-12345678 morgen", ["phone"]),
    ("mobile +31 6 1234 5678, or 0031612345678", ["phone", "phone"]),
    ("landline (020) 555-0199.", ["phone"]),
    ("UK number +44 20 7946 0958", ["phone"]),
    ("mail jan.jansen@example.nl please", ["email"]),
    ("chat from 192.0.2.17 and 2001:db8::1", ["ipv4", "ipv6"]),
    ("link-local fe80::1%eth0 seen", ["ipv6"]),
    ("he wrote j.doe+hl@mail.example.org at 21:30", ["email"]),
    # Separators pasted from phones and word processors: no-break and narrow spaces, dashes.
    ("call 06\u00a012345678", ["phone"]),
    ("call 06\u201312345678", ["phone"]),
    ("call +31\u00a06\u00a01234\u00a05678", ["phone"]),
    ("call 06\u202f1234\u202f5678", ["phone"]),
    ("call \uff0b31 6 1234 5678", ["phone"]),
    ("call 06\u200b1234\u20115678", ["phone"]),
    ("mail jan\uff20example.nl", ["email"]),
]

NOT_IDENTIFIERS = [
    "called on 2023-11-05 and again 05.11.2023",
    "between 2021-2023 contacts rose",
    "between 2021\u20132023 contacts rose",
    "1,716 contacts from 795 people",
    "at 12:30:45 for 45 minutes",
    "a ratio of 3.14159265",
    "aged 17, since 2019, 3 times",
    "version 10.2 of the app",
]


@pytest.mark.parametrize(("text", "kinds"), CRAFTED)
def test_crafted_notes_are_found(text: str, kinds: list[str]) -> None:
    assert [f.kind for f in find_identifiers(text)] == kinds


@pytest.mark.parametrize("text", NOT_IDENTIFIERS)
def test_dates_counts_and_times_are_not_identifiers(text: str) -> None:
    assert find_identifiers(text) == []


def test_redaction_replaces_only_the_identifier() -> None:
    text, findings = redact("call 06-12345678 or mail a@b.example now")
    assert text == "call [phone number removed] or mail [email address removed] now"
    assert describe(findings) == "phone number ×1, email address ×1"


def test_findings_carry_no_value() -> None:
    finding = find_identifiers("ip 192.0.2.17")[0]
    assert "192" not in repr(finding)


@given(st.emails(), st.text(alphabet=st.characters(categories=["Ll", "Zs"]), max_size=30))
def test_any_email_in_a_note_is_redacted(email: str, filler: str) -> None:
    note = f"{filler} {email} {filler}"
    redacted, findings = redact(note)
    assert findings and findings[0].kind == "email"
    assert email not in redacted


@given(st.ip_addresses())
def test_any_ip_address_is_found(address: object) -> None:
    note = f"seen from {address} yesterday"
    kinds = {f.kind for f in find_identifiers(note)}
    assert kinds & {"ipv4", "ipv6"}
    assert str(address) not in redact(note)[0]


def test_a_number_with_unicode_separators_is_redacted_where_it_stands() -> None:
    """The scan reads ASCII counterparts one character for one, so offsets are the note's."""
    text, findings = redact("call 06\u00a01234\u20135678 today")
    assert text == "call [phone number removed] today"
    assert [f.kind for f in findings] == ["phone"]


# Two numbers side by side are one run of digits and separators too long to be one number: it is
# split at its spaces into the numbers it holds, each replaced where it stands.
ADJACENT_NUMBERS = [
    ("+31 6 12345678 0612345678", "[phone number removed] [phone number removed]"),
    ("bel 0612345678 0687654321 nu", "bel [phone number removed] [phone number removed] nu"),
    ("06 12345678 06 87654321", "[phone number removed] [phone number removed]"),
    ("+44 20 7946 0958 0612345678", "[phone number removed] [phone number removed]"),
    ("06-12345678 / 06-87654321.", "[phone number removed] / [phone number removed]."),
    ("(020) 555-0199 (030) 123-4567", "[phone number removed] [phone number removed]"),
    ("call 0612345678\u00a00687654321", "call [phone number removed]\u00a0[phone number removed]"),
    # A date, year range or decimal number beside a number is left as it is, not read into it.
    ("on 2023-11-05 0612345678", "on 2023-11-05 [phone number removed]"),
    ("on 2023-11-05 06 12345678", "on 2023-11-05 [phone number removed]"),
    ("0612345678 05/11/2023", "[phone number removed] 05/11/2023"),
    # An address or a version beside a number no longer hides it in one run.
    ("192.0.2.7 0612345678", "[IPv4 address removed] [phone number removed]"),
    ("version 1.2.3.4 0612345678", "version 1.2.3.4 [phone number removed]"),
]


@pytest.mark.parametrize(("text", "redacted"), ADJACENT_NUMBERS)
def test_adjacent_numbers_are_each_found_where_they_stand(text: str, redacted: str) -> None:
    assert redact(text)[0] == redacted


@pytest.mark.parametrize(
    "text",
    [
        "id 12345678901234567890",  # no separator: one run, too long to be a number, not split
        "between 2019-2020 2021-2022 2023-2024",
        "on 2023-11-05 2023-11-06 2023-11-07",
        "ratios 3.14159 2.71828 1.41421",
    ],
)
def test_long_runs_of_what_is_not_a_number_stay_unfound(text: str) -> None:
    assert find_identifiers(text) == []


# A dotted number the text itself marks as a version is no address (nor phone number), wherever
# it is written.
VERSIONS = [
    "Skype v8.110.0.215",
    "v10.110.100.215",
    "WhatsApp version 2.24.1.6",
    "updated to Version: 10.110.100.215",
    "ver. 8.110.0.215",
    "Skype/8.110.0.215",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.6099.109",
]


@pytest.mark.parametrize("text", VERSIONS)
def test_a_version_is_no_identifier(text: str) -> None:
    assert find_identifiers(text) == []
    assert find_identifiers(text, client_name=True) == []


# An address is found however it is introduced; in a note, a word before a dotted quad does not
# make it a version ("he used Skype 10.0.0.1" may well name the address).
ADDRESSES = [
    "IP 192.0.2.7",
    "from 192.0.2.7",
    "192.0.2.7",
    "he used 10.0.0.1",
    "Skype 8.110.0.215",
    "ip/192.0.2.7",
    "Skype/8.110.0.215:443",
    "version 8.110.0.215/24",
]


@pytest.mark.parametrize("text", ADDRESSES)
def test_an_address_is_found_in_a_note(text: str) -> None:
    assert [f.kind for f in find_identifiers(text)] == ["ipv4"]


@pytest.mark.parametrize(
    "text",
    [
        "Skype 8.110.0.215",
        "Skype for Windows 8.110.0.215",
        "WhatsApp 2.24.1.6 (Android)",
        "eMule 0.50.0.1",
    ],
)
def test_a_client_named_with_its_version_holds_no_address(text: str) -> None:
    assert find_identifiers(text, client_name=True) == []


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("IP 192.0.2.7", ["ipv4"]),
        ("from 192.0.2.7", ["ipv4"]),
        ("peer 198.51.100.77", ["ipv4"]),
        ("192.0.2.7", ["ipv4"]),
        ("Skype: 192.0.2.7", ["ipv4"]),
        ("Skype 192.0.2.7:443", ["ipv4"]),
        ("Skype 8.110.0.215 peer 198.51.100.77", ["ipv4"]),
        # Only an address reading is set aside: a number written with dots stays a number.
        ("WhatsApp 06.12.34.56.78", ["phone"]),
        ("WhatsApp 020.555.01.99", ["phone"]),
    ],
)
def test_an_identifier_in_a_client_name_is_still_found(text: str, kinds: list[str]) -> None:
    assert [f.kind for f in find_identifiers(text, client_name=True)] == kinds


# A product's name: no word that introduces an address, nor one that itself marks a version.
_NAMES = st.from_regex(r"[A-Z][A-Za-z]{1,12}", fullmatch=True).filter(
    lambda name: name.lower() not in ADDRESS_WORDS | {"version"}
)
_QUADS = st.ip_addresses(v=4).map(str)


_MARKED = st.sampled_from(["{name} v{quad}", "{name} version {quad}", "{name}/{quad}"])


@given(_NAMES, _QUADS, _MARKED)
def test_any_marked_version_is_no_address(name: str, quad: str, form: str) -> None:
    assert find_identifiers(form.format(name=name, quad=quad)) == []


@given(_NAMES, _QUADS)
def test_any_client_name_and_version_is_no_address_but_is_one_in_a_note(
    name: str, quad: str
) -> None:
    text = f"{name} {quad}"
    assert find_identifiers(text, client_name=True) == []
    assert [f.kind for f in find_identifiers(text)] == ["ipv4"]


_PHONES = st.one_of(
    st.from_regex(r"0[1-9][0-9]{8}", fullmatch=True),
    st.from_regex(r"0[1-9]-[0-9]{8}", fullmatch=True),
    st.from_regex(r"0[1-9][0-9] [0-9]{3} [0-9]{4}", fullmatch=True),
    st.from_regex(r"\([0-9]{3}\) [0-9]{3}-[0-9]{4}", fullmatch=True),
    st.from_regex(r"\+[1-9][0-9]{1,2} [1-9][0-9]{0,2} [0-9]{3,4} [0-9]{4}", fullmatch=True),
    st.from_regex(r"00[1-9][0-9] [1-9] [0-9]{4} [0-9]{4}", fullmatch=True),
)


@given(_PHONES, _PHONES, st.sampled_from([" ", "  ", " / ", "\u00a0"]))
def test_any_two_adjacent_phone_numbers_are_both_found(first: str, second: str, gap: str) -> None:
    """Both are found and no digit of either is left. Where the second begins with a short
    group and more than 8 digits follow it (``0031 6 12345678``), the split may be read a group
    off (that group with the first number): the same digits are replaced either way."""
    note = f"call {first}{gap}{second} today"
    redacted, findings = redact(note)
    assert [f.kind for f in findings] == ["phone", "phone"]
    assert (findings[0].start, findings[1].end) == (5, len(note) - len(" today"))
    assert not any(ch.isdigit() for ch in redacted)
