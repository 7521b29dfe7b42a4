"""Reading the files users hand to the system, with one clear error when a file cannot be read.

Every importer (registers, case files, hash lists, evidence, helpline exports, scenarios) starts
by reading a path given on the command line; a missing file, a directory or a permission problem
must come back as the same one-line error naming the file, not as a traceback. The rules every
reader of a format shares live here too: how CSV records are split and refused (``csv_rows``),
that a JSON object or YAML mapping gives each key once (``load_json``, ``load_yaml``), and that
stored text holds no NUL (``refuse_nul``).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections import Counter
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safeguarding.errors import ValidationError

if TYPE_CHECKING:
    from yaml import SafeLoader


def read_input(path: Path, *, max_bytes: int | None = None) -> bytes:
    """The whole file; ``max_bytes`` refuses larger files before reading them."""
    try:
        if max_bytes is not None and (size := path.stat().st_size) > max_bytes:
            raise ValidationError(
                f"{path}: {size} bytes, files up to {max_bytes} bytes are accepted",
                location=str(path),
                rule="file_too_large",
            )
        return path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"{path}: cannot read ({exc.strerror or exc})", location=str(path), rule="read"
        ) from exc


def read_input_text(path: Path, *, encoding: str = "utf-8") -> str:
    """The whole file as text; bytes that are not UTF-8 are refused with their offset.

    ``encoding`` is ``utf-8`` or ``utf-8-sig`` (exports from spreadsheets start with a BOM)."""
    try:
        return read_input(path).decode(encoding)
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{path}: not UTF-8 text (byte {exc.start})", location=str(path), rule="utf-8"
        ) from exc


def repeated_columns(header: Sequence[str]) -> list[str]:
    """The column names a CSV header gives more than once. Read by name, a row keeps only the
    last of them: the value in the first would be lost without a word."""
    return sorted(name for name, times in Counter(header).items() if times > 1)


LISTED_NAMES = 10


def some_names(names: Sequence[str], limit: int = LISTED_NAMES) -> str:
    """The first ``limit`` names joined with commas, then how many more there are.

    A header of tens of thousands of columns would otherwise become a refusal message (and a
    stored quarantine error) of the same size; the first few show what went wrong."""
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


def refuse_repeated_columns(header: Sequence[str], location: str) -> None:
    """Refuses a header that names a column twice, naming the file, line 1 and the columns."""
    repeated = repeated_columns(header)
    if repeated:
        raise ValidationError(
            f"{location}:1: column(s) given twice: {some_names(repeated)}",
            location=f"{location}:1",
            rule="repeated_column",
        )


# Python's csv module refuses a field over 131,072 characters by raising in the middle of a
# record, after which it reads on from the next physical line, inside that record: the rest of the
# file can no longer be trusted, so the whole file had to be refused. The readers hold the whole
# (size-capped) text in memory, so that limit guards nothing here; it is lifted once, and
# ``csv_rows`` refuses an over-long field in its own row instead, naming the line and the column.
MAX_CSV_FIELD = 131_072
csv.field_size_limit(2**31 - 1)

# Where a quoted field opens that runs to the end of the text: inside it, quotes come in pairs.
_OPEN_QUOTE = re.compile(r'"(?:[^"]++|"")*+\Z')
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class CsvRow:
    """One record of a CSV file: the line it starts on and its cells by column, or, when the
    record cannot be taken, the column at fault (``-`` for the whole record), rule and message."""

    line: int
    cells: dict[str, str]
    column: str = ""
    rule: str = ""
    problem: str = ""


def csv_rows(text: str, location: str) -> tuple[list[str], Iterator[CsvRow]]:
    """The header of CSV ``text`` and its records, each with the line it starts on.

    A record that cannot be taken (more cells than columns, a field over ``MAX_CSV_FIELD``
    characters, a character after a closing quote) comes back with its problem, and the records
    after it are read. A quoted field that is never closed refuses the whole file, naming the line
    where it opens: every line after it was read into that one field, so no record after it can be
    told apart. Blank lines are skipped; cells missing at the end of a short record are left out
    of ``cells``.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise _csv_error(exc, text, 1, location) from exc

    def records() -> Iterator[CsvRow]:
        start = reader.line_num + 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                error = _csv_error(exc, text, start, location)
                if error.rule == "unterminated_quote":
                    raise error from exc
                yield CsvRow(start, {}, "-", error.rule, f"not valid CSV ({exc})")
            else:
                if values:
                    yield _row(start, header, values)
            start = reader.line_num + 1

    return header, records()


def _row(line: int, header: list[str], values: list[str]) -> CsvRow:
    if len(values) > len(header):
        return CsvRow(line, {}, "-", "extra_cells", "more cells than header columns")
    cells = dict(zip(header, values, strict=False))
    for column, value in cells.items():
        if len(value) > MAX_CSV_FIELD:
            return CsvRow(
                line,
                {},
                column,
                "field_too_long",
                f"{len(value)} characters, at most {MAX_CSV_FIELD} allowed",
            )
    return CsvRow(line, cells)


def _csv_error(exc: csv.Error, text: str, first_line: int, location: str) -> ValidationError:
    """A CSV error as a refusal. Only a quoted field still open at the end of the text makes the
    reader run out of data in the middle of a record (``strict`` mode says so, where the lenient
    mode would silently return everything after the quote as one field)."""
    if str(exc) != "unexpected end of data":
        return ValidationError(
            f"{location}:{first_line}: not valid CSV ({exc})",
            location=f"{location}:{first_line}",
            rule="csv",
        )
    lines = io.StringIO(text, newline="").readlines()
    offset = sum(len(line) for line in lines[: first_line - 1])
    opened = _OPEN_QUOTE.search(text, offset)
    line = first_line + len(_LINE_BREAK.findall(text, offset, opened.start() if opened else offset))
    return ValidationError(
        f"{location}:{line}: a quoted field opens on this line and is never closed "
        "(every line after it would be read into that field)",
        location=f"{location}:{line}",
        rule="unterminated_quote",
    )


def refuse_nul(value: Any) -> Any:
    """A pydantic field validator for text that will be stored: PostgreSQL refuses a NUL
    character (``\\x00``) in text, so a value holding one is refused by the reader, with its
    field named, and not by the store half-way through an import (SQLite would keep it)."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain a NUL character (\\x00)")
    return value


class RepeatedKeyError(ValueError):
    """A JSON object that gives one key twice; ``key`` is kept so that a reader whose message is
    stored can show it redacted (a key may be someone's address)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} given twice in one object")
        self.key = key


def _refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise RepeatedKeyError(key)
        found[key] = value
    return found


def load_json(document: str | bytes) -> Any:
    """A JSON document, refusing an object that gives a key twice (``RepeatedKeyError``, a
    ``ValueError``). ``json`` keeps the last of them: the first value would be lost without a
    word, and two readers of the same file could disagree on what it says."""
    return json.loads(document, object_pairs_hook=_refuse_repeated_keys)


class YamlKeyError(ValueError):
    """A YAML document the readers refuse at a line they can name: a mapping's key (given twice,
    or a merge key), or a value that cannot be read; the problem, the line and the rule."""

    def __init__(self, problem: str, line: int, rule: str) -> None:
        super().__init__(problem)
        self.problem, self.line, self.rule = problem, line, rule

    def refusal(self, file: str) -> ValidationError:
        """The refusal of ``file``, naming the line and the rule."""
        return ValidationError(
            f"{file}:{self.line}: {self.problem}", location=f"{file}:{self.line}", rule=self.rule
        )


@functools.cache
def strict_yaml_loader() -> type[SafeLoader]:
    """``SafeLoader`` that refuses a key given twice in one mapping (it keeps the last, so the
    first value, even a whole ``services:`` list, would be lost without a word) and merge keys
    (``<<: *anchor``): a row built from another row's fields is not what a reviewer of the file
    reads, so every field is written out. Both raise ``YamlKeyError``, and so does a value the
    constructors cannot read (a date such as ``2025-02-30``, an integer of thousands of digits):
    their ``ValueError`` carries no line, the node being built does.

    Built on first use: the command line starts without loading ``yaml``."""
    import yaml

    class StrictYamlLoader(yaml.SafeLoader):
        def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep)
            except YamlKeyError:
                raise
            except ValueError as exc:
                line = node.start_mark.line + 1
                raise YamlKeyError(
                    f"not YAML we read ({why_unreadable(exc)})", line, "yaml"
                ) from exc

        def construct_mapping(
            self, node: yaml.MappingNode, deep: bool = False
        ) -> dict[Hashable, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                line = key_node.start_mark.line + 1
                if key_node.tag == "tag:yaml.org,2002:merge":
                    problem = "merge keys (<<) are not read; write the fields out"
                    raise YamlKeyError(problem, line, "merge_key")
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, Hashable):
                    if key in seen:
                        problem = f"key {key!r} given twice in one mapping"
                        raise YamlKeyError(problem, line, "repeated_key")
                    seen.add(key)
            return super().construct_mapping(node, deep)

    return StrictYamlLoader


def load_yaml(text: str) -> Any:
    """A YAML document read by ``strict_yaml_loader()``."""
    import yaml

    return yaml.load(text, Loader=strict_yaml_loader())  # noqa: S506 - a SafeLoader subclass


# What the readers catch beyond their format's own error: Python refuses to convert a number of
# thousands of digits (ValueError) and the parsers recurse into nesting (RecursionError).
UNREADABLE = (ValueError, RecursionError)


def why_unreadable(exc: BaseException) -> str:
    """Why a document of a known format could not be read, in a few words for its refusal."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]  # "Exceeds the limit (4300 digits) ...: value has N digits"
