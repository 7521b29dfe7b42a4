"""Finding direct identifiers (emails, phone numbers, IP addresses) in free text.

A helpline is anonymous: a counsellor's note or a caller-chosen token must not carry a way to reach
or trace the caller. This scanner is a safety net at the boundary, not a guarantee: it finds the
common written forms (``name@example.org``, ``+31 6 1234 5678``, ``06-12345678``, ``192.0.2.7``,
``2001:db8::1``) and the importer then refuses the record or redacts the match, as the operator
chooses. It never returns the matched text to a caller that might log it; findings carry only the
kind and the position.

Phone numbers are told from other digit runs by length (9–15 digits, or 8 with a leading ``+`` or
``00``) and by shape: dates (``2023-11-05``, ``05.11.2023``), year ranges and decimal numbers
are not phone numbers. A run too long to be one number, such as two numbers side by side, is
split at its spaces into the numbers it holds (``_phone_numbers``).

A dotted number the text marks as a version is neither an IPv4 address nor a phone number:
``v8.110.0.215``, ``version 8.110.0.215``, ``ver. 8.110.0.215`` and the user-agent form
``Skype/8.110.0.215``. A four-part version is a valid IPv4 address, a long one has a phone
number's digits, and providers name chat clients and apps with their versions. The marks hold
for every caller, in a note as in a provider's field, because the text itself says what the
number is: "updated to version 2.24.1.6" holds nothing to redact. A token that names or
introduces an address (``ip/192.0.2.7``, ``ADDRESS_WORDS``) marks no version, and a number
followed by a port or a prefix length (``:443``, ``/24``), which only an address has, is none.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

IdentifierKind = Literal["email", "phone", "ipv4", "ipv6"]
IdentifierPolicy = Literal["refuse", "redact"]

KIND_LABELS: dict[IdentifierKind, str] = {
    "email": "email address",
    "phone": "phone number",
    "ipv4": "IPv4 address",
    "ipv6": "IPv6 address",
}

_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)")
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?(?![\w:])")
_PHONE = re.compile(r"(?<![\w+(])(?:\+|00|\()?\d[\d \t().\-/]{5,}\d(?!\w)")
_NOT_PHONE_SHAPES = (
    re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}"),
    re.compile(r"\d{1,2}[-./]\d{1,2}[-./]\d{4}"),
    re.compile(r"\d{4}\s*[-/]\s*\d{4}"),
    re.compile(r"\d+[.,]\d+"),
)
_MAX_PHONE_DIGITS = 15
# Words that name or introduce an address: before a dotted number, none is a product's name.
ADDRESS_WORDS = frozenset(
    {"ip", "ipv4", "addr", "address", "host", "server", "peer", "proxy", "router", "gateway"}
    | {"from", "via", "at", "to", "on", "by", "with"}
)
# A dotted number that may be a version: after ``v``, after ``version`` or ``ver.``, or after a
# product's name and a slash (``Skype/8.110.0.215``) or spaces (``Skype 8.110.0.215``, a version
# only in a client's name: ``_is_version``). The name stands as a word of its own, so that a
# URL's path (``example.org/1.2.3.4``) is none. Not when a digit, a port or a prefix length
# follows: ``1.2.3.4:443`` and ``1.2.3.4/24`` are addresses.
_VERSION = re.compile(
    r"(?:(?<![\w.])v|\b(?:version|ver\.):?[ \t]*"
    r"|(?<![^\s(;,])(?P<name>[^\W\d_][\w+-]*)(?P<gap>/|[ \t]+))"
    r"(?P<number>\d+(?:\.\d+)+)(?![\w.]*\d|[:/]\d)",
    re.IGNORECASE,
)
# A group of a phone run: what stands between its spaces, from its first mark to its last digit
# (or a closing parenthesis), so that a lone ``/`` or ``-`` between two numbers is no group.
_GROUP = re.compile(r"\S*\d\)?")


# Characters typed or pasted into identifiers that are not ASCII: no-break and other spaces,
# zero-width characters, Unicode hyphens, dashes and minus, fullwidth signs. Every scan reads a
# copy with each of them as its ASCII counterpart, one character for one, so that
# "06\u00a012345678" is found as "06 12345678" is, at the same offsets in the note.
_SCAN_FORM = str.maketrans(
    {
        **dict.fromkeys(
            "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
            "\u200a\u200b\u200c\u200d\u202f\u205f\u2060\u3000\ufeff",
            " ",
        ),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\ufe58\ufe63\uff0d", "-"),
        "\uff0b": "+",
        "\uff08": "(",
        "\uff09": ")",
        "\uff0e": ".",
        "\uff0f": "/",
        "\uff20": "@",
    }
)


@dataclass(frozen=True)
class Finding:
    """One identifier in a text: its kind and where it is (the text itself is not kept)."""

    kind: IdentifierKind
    start: int
    end: int

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]


def _not_a_number(text: str) -> bool:
    """Whether ``text`` is a date, a year range or a decimal number."""
    return any(shape.fullmatch(text) for shape in _NOT_PHONE_SHAPES)


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _is_phone(candidate: str) -> bool:
    if _not_a_number(candidate.strip()):
        return False
    digits = _digits(candidate)
    international = candidate.startswith(("+", "00"))
    return 9 <= digits <= _MAX_PHONE_DIGITS or (international and digits == 8)


def _phone_numbers(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The phone numbers in ``text[start:end]``, a run ``_PHONE`` found, as spans of ``text``.

    A run that is a number is one. Two numbers side by side (``+31 6 12345678 0612345678``) make
    one run, too long to be a number, and read whole neither was found; so a run that is not a
    number is split at its spaces into the numbers it holds. Each is a stretch of whole groups
    that passes the test a run standing alone passes, so that a number is found beside another
    as it is alone; a group that is a date, a year range or a decimal number is in none, as
    alone it is no number. Of the ways to split, the one leaving the fewest digits outside a
    number is taken (privacy first), and of those the one whose first number is the longest
    (``+44 20 7946 0958 0612345678`` is read as 12 and 10 digits, not 8 and 14; no digit is left
    either way). The price: a list of numbers parted by spaces only is read as a number where 9
    to 15 of its digits stand together, as it is when no longer than that. A run without a space
    (a 20-digit id) is not split: a space is where writers part two numbers, and an id may hold
    any stretch of digits."""
    run = text[start:end]
    if _is_phone(run):
        return [(start, end)]
    groups = [(start + m.start(), start + m.end(), m.group()) for m in _GROUP.finditer(run)]
    # best[i]: the digits in numbers and the numbers, splitting groups[i:] the best way
    best: list[tuple[int, list[tuple[int, int]]]] = [(0, [])] * (len(groups) + 1)
    for i in reversed(range(len(groups))):
        best[i] = best[i + 1]  # groups[i] in no number
        # Every group holds a digit, so a number spans at most _MAX_PHONE_DIGITS of them.
        for j in range(i, min(len(groups), i + _MAX_PHONE_DIGITS)):
            if _not_a_number(groups[j][2]):
                break
            number = text[groups[i][0] : groups[j][1]]
            covered = _digits(number) + best[j + 1][0]
            if _is_phone(number) and covered >= best[i][0]:
                best[i] = (covered, [(groups[i][0], groups[j][1]), *best[j + 1][1]])
    return best[0][1]


def _is_ip(candidate: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(candidate.split("%", 1)[0]).version == version
    except ValueError:
        return False


def _is_version(match: re.Match[str], client_name: bool) -> bool:
    """Whether a ``_VERSION`` match is a version: marked as one (``v``, ``version``, a product
    token and a slash), or, in a client's name only, a valid IPv4 address after the name; never
    after a word that names or introduces an address."""
    name = match["name"]
    if name is None:
        return True
    if name.lower() in ADDRESS_WORDS:
        return False
    return match["gap"] == "/" or (client_name and _is_ip(match["number"], 4))


def find_identifiers(text: str, *, client_name: bool = False) -> list[Finding]:
    """Every email, phone number and IP address in ``text``, in order, without overlaps.

    ``client_name`` says that ``text`` names a chat client, game or app (the CyberTipline's
    ``chatClient``, ``gameName`` and peer-to-peer ``client``): there a dotted quad right after a
    word is that product's version, as providers write it (``Skype 8.110.0.215``), unless the
    word names or introduces an address (``IP 192.0.2.7``, ``from 192.0.2.7``). Only such a field
    says so, and so the rule is the caller's to ask for: anywhere else a word before an address
    is the ordinary way to write one (``he used Skype 10.0.0.1``), and privacy comes first. Only
    the address reading is set aside: a dotted number that is no valid IPv4 address may be a
    phone number written with dots (``WhatsApp 06.12.34.56.78``), and it is still found."""
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []

    def claim(start: int, end: int) -> bool:
        if any(start < b and a < end for a, b in taken):
            return False
        taken.append((start, end))
        return True

    def add(kind: IdentifierKind, start: int, end: int) -> None:
        if claim(start, end):
            found.append(Finding(kind, start, end))

    scanned = text.translate(_SCAN_FORM)
    for match in _EMAIL.finditer(scanned):
        add("email", match.start(), match.end())
    for match in _IPV6.finditer(scanned):
        if match.group().count(":") >= 2 and _is_ip(match.group(), 6):
            add("ipv6", match.start(), match.end())
    for match in _VERSION.finditer(scanned):  # claimed, so that no later kind reads it
        if _is_version(match, client_name):
            claim(*match.span("number"))
    for match in _IPV4.finditer(scanned):
        if _is_ip(match.group(), 4):
            add("ipv4", match.start(), match.end())
    # Phone numbers are read in what the other kinds left, each found or claimed one blanked
    # out with a character no run holds: an address or version beside a number would otherwise
    # be read into the number's run, and the whole run dropped as overlapping it.
    for a, b in taken:
        scanned = f"{scanned[:a]}{'#' * (b - a)}{scanned[b:]}"
    for match in _PHONE.finditer(scanned):
        candidate = match.group().rstrip(" \t.-/(")
        for start, end in _phone_numbers(scanned, match.start(), match.start() + len(candidate)):
            add("phone", start, end)
    return sorted(found, key=lambda f: f.start)


def redact(text: str) -> tuple[str, list[Finding]]:
    """``text`` with every identifier replaced by ``[<kind> removed]``, and what was replaced."""
    findings = find_identifiers(text)
    parts: list[str] = []
    position = 0
    for finding in findings:
        parts.append(text[position : finding.start])
        parts.append(f"[{finding.label} removed]")
        position = finding.end
    parts.append(text[position:])
    return "".join(parts), findings


def describe(findings: list[Finding]) -> str:
    """``"phone number ×2, email address ×1"``: what was found, never the values."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.label] = counts.get(finding.label, 0) + 1
    return ", ".join(f"{label} ×{n}" for label, n in counts.items())
