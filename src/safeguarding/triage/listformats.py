"""Reading hash lists: Project VIC / VICS JSON, and CSV or plain-text lists.

VICS JSON comes in two shapes (a case export with ``value[].Media[]``, or a flat hash set with
``value[]`` of media) and two generations (``odata.metadata`` 1.x from ICMEC, ``@odata.context``
2.0 from VICSDATAMODEL). Category numbers mean different things in the two schemes in use:

====  ==========================  ==========================
code  Project VIC US scheme       legacy DHS scheme
====  ==========================  ==========================
0     non-pertinent               uncategorised
1     child abuse material        child exploitation (illegal)
2     exploitive / age difficult  non-illegal / age difficult
3     CGI / animation             CGI / animation
4     comparison                  exemplar / comparison
5     (not used)                  non-pertinent
null  uncategorised               uncategorised
====  ==========================  ==========================

Both map to one internal set; the scheme and code as given are kept with every entry. The scheme
is the one the file declares (a ``/US/`` 2.0 context → US; a 1.x file → DHS) unless the importer
names it. MD5, SHA-1 and PDQ are matched; PhotoDNA is stored and never matched.

A malformed entry (bad hash, unknown category) is rejected with its location and reason; the rest of
the list is read. One bad line never breaks a list. A hash listed again with another category is
taken with the more serious of the two, and the other line is rejected naming the kept one; listed
again alike, it is taken once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from safeguarding.hashing.kinds import HashKind, InvalidHashError, normalise_hash, parse_kind
from safeguarding.input_files import (
    UNREADABLE,
    RepeatedKeyError,
    load_json,
    repeated_columns,
    some_names,
    why_unreadable,
)
from safeguarding.triage.formats.fields import csv_line
from safeguarding.triage.records import Rejected

Scheme = Literal["vics_us", "vics_dhs", "none"]
INTERNAL_CATEGORIES = (
    "abuse_material",
    "exploitive_age_difficult",
    "cgi_animation",
    "comparison",
    "non_pertinent",
    "uncategorised",
)
# Reviewed and found not abuse material: a match with it on a known list makes no file known.
NON_PERTINENT = "non_pertinent"
# The internal categories from the one whose matches need attention first: where a list gives
# one hash two categories, the earlier here is kept ("uncategorised" before "non_pertinent": an
# unknown category is not a known harmless one).
CAUTION = (
    "abuse_material",
    "exploitive_age_difficult",
    "cgi_animation",
    "comparison",
    "uncategorised",
    "non_pertinent",
)
_SCHEMES: dict[str, dict[int, str]] = {
    "vics_us": {
        0: "non_pertinent",
        1: "abuse_material",
        2: "exploitive_age_difficult",
        3: "cgi_animation",
        4: "comparison",
    },
    "vics_dhs": {
        0: "uncategorised",
        1: "abuse_material",
        2: "exploitive_age_difficult",
        3: "cgi_animation",
        4: "comparison",
        5: "non_pertinent",
    },
}
_VICS_HASH_FIELDS: tuple[tuple[str, HashKind], ...] = (
    ("MD5", "md5"),
    ("SHA1", "sha1"),
    ("SHA256", "sha256"),
    ("PDQ", "pdq"),
    ("PhotoDNA", "photodna"),
)
_VERSION_1 = re.compile(r"DataModels/(1\.\d+)\.xml")
_VERSION_2 = re.compile(r"DataModels/(\d+\.\d+)\.xml/\w+/")


@dataclass(frozen=True)
class EntryIn:
    kind: HashKind
    value: str
    category: str
    source_category: str | None
    source_scheme: Scheme
    source_media_id: str | None = None


@dataclass
class ParsedList:
    format: str
    format_version: str | None
    entries: list[EntryIn] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    # each hash with the line it is taken from, that line's raw input and its place in entries
    listed: dict[tuple[str, str], tuple[str, EntryIn, Any, int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def add(self, entry: EntryIn, location: str, raw: Any) -> None:
        """Take an entry once per hash; of two categories for one hash, keep the more serious.

        Stored entries are one per hash, so one of two categories would win by line order: a
        hash listed as abuse material could silently become non-pertinent and its matches be
        put last. The more serious category (``CAUTION``) is taken whichever line gives it,
        and the other line is quarantined naming the kept one, for review; the same hash
        listed again alike is harmless and taken once."""
        key = (entry.kind, entry.value)
        found = self.listed.get(key)
        if found is None:
            self.listed[key] = (location, entry, raw, len(self.entries))
            self.entries.append(entry)
            return
        kept_location, kept, kept_raw, index = found
        if (kept.category, kept.source_category) == (entry.category, entry.source_category):
            return
        if CAUTION.index(entry.category) < CAUTION.index(kept.category):
            self.entries[index] = entry
            self.listed[key] = (location, entry, raw, index)
            entry, kept, location, kept_location, raw = (
                kept,
                entry,
                kept_location,
                location,
                kept_raw,
            )
        problem = (
            f"the same {entry.kind} hash as {kept_location}, with category {_said(entry)} where "
            f"that line gives {_said(kept)}; the more serious category is kept"
        )
        self.rejected.append(_reject(location, "conflicting_category", problem, raw))


def _said(entry: EntryIn) -> str:
    code = entry.source_category if entry.source_category is not None else "none"
    return f"{code} ({entry.category})"


def _reject(location: str, rule: str, message: str, raw: Any) -> Rejected:
    data = raw if isinstance(raw, bytes) else json.dumps(raw, default=str).encode()
    return Rejected(location, rule, f"{location}: {message}", data, kind="hash_entry")


def category_of(code: Any, scheme: Scheme) -> tuple[str, str | None]:
    """(internal category, code as given); raises ``ValueError`` for a code the scheme lacks."""
    if code is None or code == "":
        return "uncategorised", None
    if scheme == "none":
        return "uncategorised", str(code)[:16]
    try:
        number = int(str(code).strip())
    except ValueError as exc:
        raise ValueError(f"category {str(code)[:20]!r} is not a number") from exc
    mapped = _SCHEMES[scheme].get(number)
    if mapped is None:
        raise ValueError(f"category {number} is not in the {scheme} scheme")
    return mapped, str(number)


def read_vics(data: bytes, name: str, scheme: Scheme | None = None) -> ParsedList:
    """Entries of a VICS JSON document; the whole file is refused only if it is not VICS."""
    try:
        document = load_json(data)
    except RepeatedKeyError as exc:
        refusal = _reject(name, "repeated_key", str(exc), data[:4096])
        return ParsedList("vics", None, rejected=[refusal])
    except UNREADABLE as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors too
        why = why_unreadable(exc)
        return ParsedList(
            "vics", None, rejected=[_reject(name, "bad_json", f"not JSON ({why})", data[:4096])]
        )
    if not isinstance(document, dict) or not isinstance(document.get("value"), list):
        return ParsedList(
            "vics", None,
            rejected=[_reject(name, "not_vics", "no top-level 'value' list", data[:4096])],
        )  # fmt: skip
    version, declared = _version(document)
    chosen: Scheme = scheme or declared
    parsed = ParsedList("vics", version)
    for i, item in enumerate(document["value"]):
        if isinstance(item, dict) and isinstance(item.get("Media"), list):
            for j, media in enumerate(item["Media"]):
                _media(parsed, media, f"{name}:value[{i}].Media[{j}]", chosen)
        else:
            _media(parsed, item, f"{name}:value[{i}]", chosen)
    return parsed


def _version(document: dict[str, Any]) -> tuple[str | None, Scheme]:
    context = str(document.get("@odata.context") or "")
    metadata = str(document.get("odata.metadata") or "")
    if found := _VERSION_2.search(context):
        # 2.0 contexts (US, UK, Default, CUSTOM) use the Project VIC numbering.
        return found.group(1), "vics_us"
    if found := _VERSION_1.search(metadata):
        return found.group(1), "vics_dhs"
    return None, "vics_us"


def _media(parsed: ParsedList, media: Any, location: str, scheme: Scheme) -> None:
    if not isinstance(media, dict):
        parsed.rejected.append(
            _reject(location, "not_an_object", "media entry is not an object", media)
        )
        return
    try:
        category, code = category_of(media.get("Category"), scheme)
    except ValueError as exc:
        parsed.rejected.append(_reject(f"{location}.Category", "unknown_category", str(exc), media))
        return
    media_id = media.get("MediaID")
    found = 0
    for field_name, kind in _VICS_HASH_FIELDS:
        value = media.get(field_name)
        if value in (None, ""):
            continue
        try:
            normalised = normalise_hash(kind, str(value))
        except InvalidHashError as exc:
            parsed.rejected.append(_reject(f"{location}.{field_name}", exc.rule, str(exc), media))
            continue
        found += 1
        parsed.add(
            EntryIn(kind, normalised, category, code, scheme,
                    str(media_id)[:64] if media_id is not None else None),
            f"{location}.{field_name}", media,
        )  # fmt: skip
    if found == 0 and not any(media.get(f) for f, _ in _VICS_HASH_FIELDS):
        parsed.rejected.append(_reject(location, "no_hash", "media entry has no hash", media))


def read_hash_csv(
    data: bytes, name: str, *, hash_type: HashKind | None = None, scheme: Scheme = "none"
) -> ParsedList:
    """A CSV list with a header (``hash`` or ``value``, optional ``type``/``hash_type`` and
    ``category``), or a plain list of one hash a line with ``hash_type`` declared. Blank lines
    and ``#`` comments are passed over, before the header too."""
    parsed = ParsedList("csv", None)
    lines = data.split(b"\n")
    header: list[str] | None = None
    first = True  # no line with content read yet: this one may be the header
    for number, raw in enumerate(lines, start=1):
        raw = raw.rstrip(b"\r")
        location = f"{name}:{number}"
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError as exc:
            parsed.rejected.append(_reject(location, "not_utf8", f"not UTF-8 ({exc.reason})", raw))
            continue
        if not text or text.startswith("#"):
            continue
        fields = csv_line(text)
        if isinstance(fields, str):
            parsed.rejected.append(_reject(location, "malformed_csv", fields, raw))
            continue
        cells = [c.strip() for c in fields]
        may_be_header, first = first, False
        if may_be_header and _is_header(cells):
            header = [c.lower() for c in cells]
            if repeated := repeated_columns(header):
                problem = f"column(s) given twice: {some_names(repeated)}"
                parsed.rejected.append(_reject(location, "repeated_column", problem, raw))
                return parsed
            continue
        row = dict(zip(header, cells, strict=False)) if header else {"hash": cells[0]}
        _csv_entry(parsed, row, location, raw, hash_type, scheme)
    return parsed


def _is_header(cells: list[str]) -> bool:
    return any(c.lower() in ("hash", "value") for c in cells)


def _csv_entry(
    parsed: ParsedList,
    row: dict[str, str],
    location: str,
    raw: bytes,
    hash_type: HashKind | None,
    scheme: Scheme,
) -> None:
    value = row.get("hash") or row.get("value") or ""
    type_name = row.get("hash_type") or row.get("type") or ""
    kind = parse_kind(type_name) if type_name else hash_type
    if kind is None:
        rule, why = (
            ("unknown_hash_type", f"hash type {type_name[:20]!r} unknown")
            if type_name
            else ("missing_hash_type", "no hash type column and none declared (--hash-type)")
        )
        parsed.rejected.append(_reject(location, rule, why, raw))
        return
    try:
        normalised = normalise_hash(kind, value)
        category, code = category_of(row.get("category"), scheme)
    except InvalidHashError as exc:
        parsed.rejected.append(_reject(location, exc.rule, str(exc), raw))
        return
    except ValueError as exc:
        parsed.rejected.append(_reject(location, "unknown_category", str(exc), raw))
        return
    parsed.add(EntryIn(kind, normalised, category, code, scheme), location, raw)
