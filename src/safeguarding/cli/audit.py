"""``safeguarding audit verify|export``: check the audit log's hash chain, and copy it out."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from safeguarding.access import audit
from safeguarding.cli.common import console, err_console, print_json, store
from safeguarding.errors import SafeguardingError

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
        try:
            with file.open(encoding="utf-8", newline="") as handle:
                result = audit.verify_export(audit.read_export(handle, file.name))
        except (OSError, UnicodeDecodeError) as exc:
            raise SafeguardingError(f"{file}: cannot read ({exc})") from exc
        what = f"export {file.name}"
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
    with store(must_exist=True) as opened:
        # The export's event commits on its own first: read in the same transaction, a slow
        # reader of the output (a pager) would hold the audit log's write lock throughout.
        with opened.session() as db:
            through = audit.record_export(db, audit.cli_actor(), fmt.value)
        if out is None:
            audit.export(opened.read_session, sys.stdout, fmt.value, through)
        else:
            with out.open("w", encoding="utf-8", newline="") as handle:
                count = audit.export(opened.read_session, handle, fmt.value, through)
            console.print(f"wrote {count} events to {out}")
