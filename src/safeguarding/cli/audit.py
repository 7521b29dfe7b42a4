"""``safeguarding audit verify|export``: check the audit log's hash chain, and copy it out."""

from __future__ import annotations

import sys
from contextlib import suppress
from enum import StrEnum
from pathlib import Path
from typing import TextIO

import typer

from safeguarding.access import audit
from safeguarding.cli.common import (
    console,
    err_console,
    output_file,
    print_json,
    shown,
    store,
    writing,
)
from safeguarding.errors import SafeguardingError
from safeguarding.store import Store

app = typer.Typer(help="The audit log: verify its hash chain, export it.", no_args_is_help=True)


class Format(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@app.command()
def verify(
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    file: Path | None = typer.Option(
        None, "--file", help="Check an exported file (JSON Lines or CSV) instead of the store."
    ),
) -> None:
    """Recompute the hash chain and name every edited or deleted event (exit 1 if any).

    Example: safeguarding audit verify (an export: safeguarding audit verify --file audit.csv)
    """
    if file is None:
        with store(on_outdated="refuse", must_exist=True) as opened, opened.session() as db:
            result = audit.verify(db)
        what = "audit log"
        intact = f"audit log intact: {result.checked} events, head at {result.head_seq}"
    else:
        # An export is checked on its own, no store needed: its chain from the first event, and
        # its last event's hash, to compare with a head hash kept elsewhere.
        name = shown(file.name)
        try:
            with file.open(encoding="utf-8", newline="") as handle:
                result = audit.verify_export(audit.read_export(handle, name))
        except OSError as exc:
            raise SafeguardingError(f"{shown(file)}: cannot read ({exc.strerror or exc})") from exc
        except UnicodeDecodeError as exc:
            raise SafeguardingError(f"{shown(file)}: cannot read ({exc})") from exc
        what = f"export {name}"
        intact = (
            f"export intact: {result.checked} events, the last {result.head_seq} with hash "
            f"{result.head_hash}"
        )
    if json_out:
        print_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "head_seq": result.head_seq,
                "head_hash": result.head_hash,
                "problems": [vars(p) for p in result.problems],
            }
        )
    elif result.ok:
        console.print(intact, soft_wrap=True)
    else:
        for problem in result.problems:
            err_console.print(f"event {problem.seq}: {problem.kind}: {problem.message}")
    if not result.ok:
        raise SafeguardingError(
            f"{what} tampered with: {len(result.problems)} problem(s) in {result.checked} events"
        )


@app.command()
def export(
    fmt: Format = typer.Option(Format.JSONL, "--format", help="jsonl or csv."),
    out: Path | None = typer.Option(None, "--out", help="Write here instead of standard output."),
) -> None:
    """Export every event, oldest first, with its hashes (the export itself is audited).

    Example: safeguarding audit export --format csv --out audit.csv
    """
    # The destination is opened before the export's event is recorded: one that cannot be
    # written (a directory, no permission) was recorded as an export although not one event
    # left the store. A write that fails later (a full disk, a closed pipe) has copied part of
    # the log out, which an auditor must see, and must not take for a whole export: it is
    # recorded as ``audit.export_failed`` after the export's event, with the reason.
    if out is not None:
        output_file(out, "--out")
    with store(must_exist=True) as opened:
        handle: TextIO = sys.stdout
        if out is not None:
            with writing(out, "--out"):
                handle = out.open("w", encoding="utf-8", newline="")
        where = "standard output" if out is None else f"--out {shown(out)}"
        try:
            count = _export(opened, handle, fmt, where)
        finally:
            if out is not None:
                # After a failed write, closing fails again on the same unwritten bytes: the
                # failure is reported already.
                with suppress(OSError):
                    handle.close()
    if out is not None:
        console.print(f"wrote {count} events to {shown(out)}", soft_wrap=True)


def _export(opened: Store, handle: TextIO, fmt: Format, where: str) -> int:
    """Record the export, write it to ``handle`` (``where`` names it), and record the export as
    failed if the writing fails."""
    # The export's event commits on its own first: read in the same transaction, a slow reader
    # of the output (a pager) would hold the audit log's write lock throughout.
    actor = audit.cli_actor()
    with opened.session() as db:
        through = audit.record_export(db, actor, fmt.value)
    try:
        count = audit.export(opened.read_session, handle, fmt.value, through)
        handle.flush()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        with opened.session() as db:
            audit.record(
                db,
                actor,
                "audit.export_failed",
                "audit",
                "",
                {"format": fmt.value, "error": reason},
            )
        raise SafeguardingError(
            f"{where}: cannot write ({reason}); the export is incomplete, and recorded in the "
            "audit log as failed"
        ) from exc
    return count
