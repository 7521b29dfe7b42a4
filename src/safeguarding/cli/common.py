"""What every command shares: settings, the store, JSON output, tables and progress bars."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import OperationalError

from safeguarding.config import Settings, load_settings
from safeguarding.errors import ValidationError
from safeguarding.store import Store, open_store
from safeguarding.store.engine import OnOutdated, is_busy
from safeguarding.triage.formats.fields import unstorable

T = TypeVar("T")

# No Rich markup in what is printed: names, paths and messages come from input and from the
# store, and a bracketed word in them ("[web]", "[ip-address]", a service "[beta]") would be read
# as a style tag and dropped. Styled words are passed as ``Text`` with their style.
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


def settings() -> Settings:
    return load_settings()


def shown(given: Path | str) -> str:
    """A path or text from the command line as output can print it. Bytes that are not UTF-8
    reach Python as a lone surrogate each, which an output of strict UTF-8 cannot write:
    "wrote NAME" failed with an unexpected UnicodeEncodeError after the work was done. Each
    such byte is shown escaped (``\\xff``)."""
    text = os.fspath(given)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no byte decodes to (a JSON escape): as one
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def given_text(value: str, name: str) -> str:
    """``value``, an argument or option that is looked up or stored as text, refused unless it
    is UTF-8: the lone surrogates its other bytes arrive as are sent by neither database
    driver, and the lookup or the write failed with an unexpected UnicodeEncodeError."""
    if unstorable(value):
        raise typer.BadParameter(f"{name} {shown(value)}: not UTF-8 text")
    return value


def output_file(path: Path, option: str) -> None:
    """Refuse ``path`` up front if it is a directory: a file is written there (a report, an
    export), and opening a directory to write failed only after the work was done, as an
    "unexpected IsADirectoryError"."""
    if path.is_dir():
        raise ValidationError(
            f"{option} {shown(path)} is a directory, not a file; give the file to write"
        )


@contextmanager
def writing(path: Path, option: str) -> Iterator[None]:
    """Turn a failure to write ``path`` (no permission, a full disk, a missing parent that
    cannot be made) into one line naming the option and the path."""
    try:
        yield
    except OSError as exc:
        raise ValidationError(
            f"{option} {shown(path)}: cannot write ({exc.strerror or exc})"
        ) from exc


def recorded(path: Path, text: str) -> str:
    """``text``, ``path``'s name or whole path as the store records it, if a store can hold it.
    A name in another encoding than UTF-8 reaches Python with a lone surrogate for each byte it
    cannot decode, which neither database driver writes: the import failed half-way with an
    unexpected UnicodeEncodeError. Refused up front, asking for the file to be renamed; the
    message shows each such byte escaped (``\\xff``): an output of strict UTF-8 cannot write
    the name either."""
    if unstorable(text):
        raise typer.BadParameter(f"{shown(path)}: the name is not UTF-8 text; rename the file")
    return text


@contextmanager
def store(*, on_outdated: OnOutdated = "upgrade", must_exist: bool = False) -> Iterator[Store]:
    """The store of the current settings, by default upgraded to the current schema; commands
    that only read pass ``on_outdated="refuse"``: a read that migrated would change a store its
    user meant only to look at (an evidence copy, one an older installation still serves).
    ``must_exist``: for commands that read or change what is stored, which refuse a database
    that is not there rather than create an empty one (``open_store``)."""
    opened = open_store(settings(), on_outdated=on_outdated, must_exist=must_exist)
    try:
        yield opened
    except OperationalError as exc:
        # Waiting out another process's write is no bug: one line, not the driver's SQL.
        if is_busy(exc):
            raise opened.busy_error() from exc
        raise
    finally:
        opened.dispose()


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, one document, stable key order. Strict JSON: NaN and
    infinities have no JSON form (Python would write ``NaN``/``Infinity``, which other readers
    refuse), so a value that holds one is a bug to fail on, not output."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=_default, allow_nan=False)
    sys.stdout.write(text + "\n")


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(table)


def progress(*, transient: bool = True) -> Progress:
    """A progress bar on stderr for anything that can take more than a second."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=transient,
        disable=not err_console.is_terminal,
    )
