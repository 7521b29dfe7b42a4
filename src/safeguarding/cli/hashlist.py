"""``safeguarding hashlist``: import, list, show and remove hash lists."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from safeguarding.access import audit
from safeguarding.cli.common import (
    console,
    given_text,
    print_json,
    print_table,
    recorded,
    settings,
    store,
)
from safeguarding.errors import ValidationError
from safeguarding.hashing.kinds import parse_kind
from safeguarding.store.base import ROW_ID_MAX
from safeguarding.triage.hashlists import (
    LIST_KINDS,
    flood_flags,
    import_list,
    list_detail,
    list_name,
    list_summaries,
    read_list_file,
    remove_list,
    review_flood_flag,
)
from safeguarding.triage.listformats import Scheme
from safeguarding.triage.options import triage_options

app = typer.Typer(help="Hash lists of known and allowed content.", no_args_is_help=True)
_SCHEMES: dict[str, Scheme] = {"us": "vics_us", "dhs": "vics_dhs", "none": "none"}


@app.command("import")
def import_command(
    path: Path = typer.Argument(..., help="VICS JSON, CSV or plain-text list."),
    name: str = typer.Option(
        ..., "--name", help="Name of the list in the store: letters, digits and . _ -."
    ),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="known (abuse material) or allow (default: as stored; a new list: known).",
    ),
    format: str | None = typer.Option(
        None, "--format", help="vics or csv (default: by extension)."
    ),
    hash_type: str | None = typer.Option(
        None,
        "--hash-type",
        help="Hash type of a list without a type column: md5, sha1, sha256, pdq.",
    ),
    scheme: str | None = typer.Option(
        None, "--scheme", help="Category scheme: us, dhs or none (default: as the file declares)."
    ),
    pdq_threshold: int | None = typer.Option(
        None,
        "--pdq-threshold",
        help="Maximum PDQ distance for this list (default: as stored; a new list: pdq.threshold).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Import a hash list (or update it); bad entries are quarantined, the rest imports.

    An update keeps the list's kind and PDQ threshold unless --kind or --pdq-threshold is given.

    Example: safeguarding hashlist import known.json --name vics-2026 --kind known
    """
    if kind is not None and kind not in LIST_KINDS:
        raise typer.BadParameter("--kind must be known or allow")
    if format not in (None, "vics", "csv"):
        raise typer.BadParameter("--format must be vics or csv")
    declared = parse_kind(hash_type) if hash_type else None
    if hash_type and declared in (None, "photodna"):
        raise typer.BadParameter("--hash-type must be md5, sha1, sha256 or pdq")
    if scheme is not None and scheme not in _SCHEMES:
        raise typer.BadParameter("--scheme must be us, dhs or none")
    try:
        name = list_name(name)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc).replace("name:", "--name:", 1)) from exc
    if pdq_threshold is not None and not 0 <= pdq_threshold <= 128:
        raise typer.BadParameter("--pdq-threshold must be 0 to 128")
    source_file = recorded(path, path.name)
    parsed = read_list_file(
        path, format, hash_type=declared, scheme=_SCHEMES[scheme] if scheme else None
    )
    from safeguarding.triage.context import intake_context  # the intake's parsers: lists only

    with store() as opened:
        context = intake_context(opened)
        summary = import_list(
            opened, context.matcher, context.sealer, parsed,
            name=name, kind=kind, source_file=source_file, pdq_threshold=pdq_threshold,
            flood_share=context.options.flood_share, actor=audit.cli_actor(),
        )  # fmt: skip
    if json_out:
        print_json(asdict(summary))
        return
    state = f"now version {summary.version}" if summary.changed else "unchanged"
    console.print(
        f"list {summary.name!r} {state}: {summary.entries} entries "
        f"(+{summary.added} −{summary.removed}, {summary.recategorised} recategorised), "
        f"{summary.quarantined} entries newly quarantined, {summary.matches} matches"
    )
    for key, (old, new) in summary.settings_changed.items():
        console.print(f"  {key} changed: {old} → {new}", highlight=False)


@app.command("list")
def list_command(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List hash lists with their size, matches and open flood flags.

    Example: safeguarding hashlist list --json
    """
    with store(on_outdated="refuse", must_exist=True) as opened, opened.session() as session:
        rows = list_summaries(session)
    if json_out:
        print_json(rows)
        return
    print_table(
        "hash lists",
        ["name", "kind", "format", "version", "entries", "quarantined", "pdq", "matches", "flood"],
        (
            [r["name"], r["kind"], f"{r['format']} {r['format_version'] or ''}".strip(),
             r["version"], r["entries"], r["quarantined"], r["pdq_threshold"], r["matches"],
             r["flood_flags"]]
            for r in rows
        ),
    )  # fmt: skip


@app.command("show")
def show_command(
    name: str = typer.Argument(..., help="List name."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one list: entries by hash kind and by category, source schemes, matches.

    Example: safeguarding hashlist show vics-2026
    """
    given_text(name, "NAME")
    options = triage_options(settings())
    with store(on_outdated="refuse", must_exist=True) as opened, opened.session() as session:
        detail = list_detail(session, name)
        flagged = flood_flags(session, options, list_id=detail["id"])
    if json_out:
        print_json({**detail, "flags": flagged["flags"], "flags_total": flagged["total"]})
        return
    for key, value in detail.items():
        console.print(f"{key}: {value}", highlight=False)
    if flagged["flags"]:
        print_table(
            f"flood flags ({flagged['total']}); now: over the last {options.flood_window:,} files",
            ["flag", "entry", "hash", "category", "flagged", "status", "now"],
            (
                [f["id"], f["entry"], f"{f['hash_kind']} {f['value'][:12]}…", f["category"],
                 f"{f['flagged_at']:%Y-%m-%d}: {_share(f)}", _review(f),
                 f"{_share(f['now'])}, {_verdict(f['now'])}"]
                for f in flagged["flags"]
            ),
        )  # fmt: skip


def _share(counts: dict[str, Any]) -> str:
    return f"{counts['matched_files']}/{counts['checked_files']} ({counts['share']:.1%})"


def _review(flag: dict[str, Any]) -> str:
    """How a flag ended and who closed it. A flag closed before reviews kept their reviewer
    (``triage_0006`` made those ``resolved``) has none to name."""
    if flag["status"] == "open":
        return "open"
    if flag["reviewed_by"] is None:
        return f"{flag['status']}, reviewer not recorded"
    return f"{flag['status']} by {flag['reviewed_by']}"


def _verdict(now: dict[str, Any]) -> str:
    """Whether the entry is still over its list's share of the current window."""
    return {True: "over", False: "under", None: "not judged"}[now["over"]]


@app.command("review")
def review_command(
    flag: int = typer.Argument(
        ..., min=1, max=ROW_ID_MAX, metavar="FLAG", help="Flood flag id (see: hashlist show)."
    ),
    status: str = typer.Option(
        ...,
        "--status",
        help="dismissed (the entry is right: the content is that common) or resolved (the entry "
        "was wrong and the list has been put right).",
    ),
) -> None:
    """Close a flood flag after looking at its entry; audited. A review is final.

    Example: safeguarding hashlist review 3 --status dismissed
    """
    with store(must_exist=True) as opened:
        reviewed = review_flood_flag(opened, flag, status, audit.cli_actor())
    console.print(
        f"flood flag {flag} (list {reviewed['list']!r}, entry {reviewed['entry']}) {status}",
        highlight=False,
    )


@app.command("remove")
def remove_command(name: str = typer.Argument(..., help="List name.")) -> None:
    """Remove a list with its entries and matches (its index segment goes too).

    Example: safeguarding hashlist remove vics-2026
    """
    from safeguarding.triage.context import intake_context

    given_text(name, "NAME")
    with store(must_exist=True) as opened:
        count = remove_list(opened, intake_context(opened).matcher, name, audit.cli_actor())
    console.print(f"removed list {name!r} ({count} entries)")
