"""Reading the files users hand to the system, with one clear error when a file cannot be read.

Every importer (registers, case files, hash lists, evidence, helpline exports, scenarios) starts
by reading a path given on the command line; a missing file, a directory or a permission problem
must come back as the same one-line error naming the file, not as a traceback.
"""

from collections.abc import Sequence
from pathlib import Path

from safeguarding.errors import ValidationError


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
    return sorted({name for name in header if header.count(name) > 1})


def refuse_repeated_columns(header: Sequence[str], location: str) -> None:
    """Refuses a header that names a column twice, naming the file, line 1 and the columns."""
    repeated = repeated_columns(header)
    if repeated:
        raise ValidationError(
            f"{location}:1: column(s) given twice: {', '.join(repeated)}",
            location=f"{location}:1",
            rule="repeated_column",
        )


# What the readers catch beyond their format's own error: Python refuses to convert a number of
# thousands of digits (ValueError) and the parsers recurse into nesting (RecursionError).
UNREADABLE = (ValueError, RecursionError)


def why_unreadable(exc: BaseException) -> str:
    """Why a document of a known format could not be read, in a few words for its refusal."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]  # "Exceeds the limit (4300 digits) ...: value has N digits"
