"""``safeguarding helpline``: import contact reports, statistics under disclosure control, notes.

No command prints or exports a note; ``list`` shows coded fields only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text
from sqlalchemy import func, select

from safeguarding.access import audit
from safeguarding.cli.common import (
    console,
    err_console,
    print_json,
    print_table,
    recorded,
    settings,
    shown,
    store,
)
from safeguarding.disclosure import dp
from safeguarding.disclosure.suppression import DEFAULT_MIN_CELL, ProtectedTable
from safeguarding.errors import ConfigError, SafeguardingError
from safeguarding.helpline.notes import purge_expired
from safeguarding.store import Store
from safeguarding.store.models.helpline import DpReleaseRow, HelplineContactRow, HelplineNoteRow

if TYPE_CHECKING:  # the contact schema (pydantic) loads with the commands that read contacts
    from safeguarding.helpline.stats import Facts, HelplineStats

app = typer.Typer(
    help="Anonymous helpline contact reports and their statistics, under disclosure control.",
    no_args_is_help=True,
)

DP_DATASET = "helpline.contacts"
DEFAULT_DP_BUDGET = 1.0
WITHHELD = "x"


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="Contact reports: .csv, .jsonl or .ndjson."),
    redact: bool = typer.Option(
        False,
        "--redact/--refuse",
        help="Redact emails, phone numbers and IP addresses found in notes (with a warning), "
        "or refuse such records (default).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Import contact reports; invalid rows are listed by row and field, valid rows are kept.

    Re-importing a file adds nothing twice. Exit code 1 when any row was rejected.

    Example: safeguarding helpline import contacts.csv --redact
    """
    if not file.is_file():
        what = "a directory, not a file" if file.is_dir() else "no such file"
        raise typer.BadParameter(f"{what}: {shown(file)}", param_hint="FILE")
    name = recorded(file, file.name)
    from safeguarding.helpline.importer import IngestKeys, import_file

    with store() as opened:
        keys = IngestKeys.from_store(opened)
        with opened.session() as session:
            outcome = import_file(session, file, keys, policy="redact" if redact else "refuse")
            counts = {
                "imported": str(outcome.imported),
                "already_present": str(outcome.already_present),
                "rejected_rows": str(outcome.rejected_rows),
            }
            actor = audit.cli_actor()
            audit.record(session, actor, "helpline.import", "helpline_file", name, counts)
    if json_out:
        print_json(outcome.as_dict())
    else:
        for warning in outcome.warnings:
            err_console.print(f"warning: {outcome.file} {warning}", highlight=False, soft_wrap=True)
        for problem in outcome.rejected:
            err_console.print(
                f"rejected: {outcome.file} {problem}", highlight=False, soft_wrap=True
            )
        console.print(
            f"{outcome.file}: {outcome.read} rows read, {outcome.imported} imported, "
            f"{outcome.already_present} already present, {outcome.rejected_rows} rejected",
            highlight=False,
        )
    if outcome.rejected:
        raise typer.Exit(1)


def _cell(value: int | None) -> str:
    return WITHHELD if value is None else f"{value:,}"


def _print_protected(table: ProtectedTable) -> None:
    one_column = len(table.col_labels) == 1
    columns = [table.title.split(" by ")[-1].replace(" and ", " × "), *table.col_labels] + (
        [] if one_column else ["total"]
    )
    rows = [
        [label, *(_cell(v) for v in cells)] + ([] if one_column else [_cell(total)])
        for label, cells, total in zip(table.row_labels, table.cells, table.row_totals, strict=True)
    ]
    rows.append(
        ["total", *(_cell(v) for v in table.col_totals)]
        + ([] if one_column else [_cell(table.total)])
    )
    print_table(f"{table.title}: {table.unit}", columns, rows)


def _percent(value: float | None) -> str:
    return WITHHELD if value is None else f"{100 * value:.1f}%"


def _print_stats(result: HelplineStats) -> None:
    if result.synthetic:
        console.print(
            Text.assemble(("SYNTHETIC sample data", "bold"), " — not real helpline contacts")
        )
    for table in result.tables:
        _print_protected(table)
    for comparison in result.comparisons:
        print_table(
            f"{comparison.indicator}: share of {comparison.population} (95% Wilson interval)",
            ["age group", "with", "of", "share", "interval"],
            (
                [
                    row.group,
                    _cell(row.numerator),
                    _cell(row.denominator),
                    _percent(row.share),
                    WITHHELD
                    if row.low is None or row.high is None
                    else f"{_percent(row.low)}–{_percent(row.high)}",
                ]
                for row in comparison.rows
            ),
        )
    unattributed = result.unattributed_contacts
    console.print(
        "contacts without caller token or first/repeat coding (not in caller counts): "
        + _cell(unattributed),
        highlight=False,
    )
    console.print(f"{WITHHELD} = withheld; " + "; ".join(result.caveats), highlight=False)


# A base past any count a helpline holds rounds everything to nothing, and a huge one failed with
# OverflowError in the float arithmetic of rounding.
MAX_ROUNDING_BASE = 1_000_000


@app.command()
def stats(
    by: str = typer.Option("year", "--by", help="One or two dimensions, e.g. age_band,year."),
    year: list[int] = typer.Option(
        [], "--year", min=1, max=9999, help="Only these years (repeatable)."
    ),
    min_cell: int | None = typer.Option(
        None, "--min-cell", min=1, help=f"Minimum cell size (default {DEFAULT_MIN_CELL})."
    ),
    round_to: int | None = typer.Option(
        None,
        "--round",
        min=1,
        max=MAX_ROUNDING_BASE,
        help="Round published counts to this base, e.g. 5.",
    ),
    dp_epsilon: float | None = typer.Option(
        None,
        "--dp",
        min=0.001,
        help="Release the contacts table with differential privacy at this epsilon, spent from "
        "the privacy budget (for dashboards queried repeatedly).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Contacts and unique callers, and young against older callers, under disclosure control.

    Example: safeguarding helpline stats --by age_band,year --min-cell 10 --round 5
    """
    from safeguarding.helpline.stats import helpline_stats, load_facts, min_cell_setting, parse_by

    try:
        dims = parse_by(by)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--by") from exc
    if dp_epsilon is not None and (min_cell is not None or round_to is not None):
        raise typer.BadParameter(
            "--dp replaces suppression and rounding; leave out --min-cell and --round",
            param_hint="--dp",
        )
    if dp_epsilon is not None and not year and {"year", "month"} & set(dims):
        raise typer.BadParameter(
            "a release by year or month needs --year: the years it shows must not come from "
            "the contacts",
            param_hint="--year",
        )
    options = settings().section("helpline")
    cell = min_cell or min_cell_setting(options)
    with store(must_exist=True) as opened:
        with opened.session() as session:
            facts = load_facts(session)
        if year:
            facts = facts.for_years(year)
        if dp_epsilon is not None:
            # Released whether or not there are contacts: a refusal would say there are none.
            _dp_release(opened, facts, dims, year, dp_epsilon, options, json_out)
            return
        if facts.contacts.height == 0:
            raise SafeguardingError(
                "no helpline contacts in the store"
                + (f" for {', '.join(map(str, year))}" if year else "")
                + "; run: safeguarding helpline import FILE"
            )
        result = helpline_stats(facts, dims, min_cell=cell, rounding_base=round_to)
    if json_out:
        print_json(result.as_dict())
    else:
        _print_stats(result)


def _dp_release(
    opened: Store,
    facts: Facts,
    dims: tuple[str, ...],
    years: list[int],
    epsilon: float,
    options: dict[str, Any],
    json_out: bool,
) -> None:
    budget = options.get("dp_epsilon_budget", DEFAULT_DP_BUDGET)
    if isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0:
        raise ConfigError("[helpline] dp_epsilon_budget must be a positive number")
    from safeguarding.helpline.stats import category_label, count_matrix, release_categories

    rows = release_categories(dims[0], years)
    cols = release_categories(dims[1], years) if len(dims) == 2 else ("count",)
    matrix, _, _ = count_matrix(facts.contacts, dims, (rows, cols))
    query = f"contacts by {','.join(dims)}"
    with opened.session() as session:
        dp.open_budget(session, DP_DATASET, float(budget))
        release = dp.release_counts(session, DP_DATASET, query, matrix.ravel().tolist(), epsilon)
        state = dp.budget_state(session, DP_DATASET)
    noisy = [list(release.counts[i * len(cols) : (i + 1) * len(cols)]) for i in range(len(rows))]
    document = {
        "query": query,
        "data": "SYNTHETIC sample data" if facts.synthetic else "recorded contacts",
        "unit": "contacts (unit of privacy: one contact)",
        "rows": [category_label(dims[0], r) for r in rows],
        "columns": [category_label(dims[1], c) for c in cols] if len(dims) == 2 else ["contacts"],
        "noisy_counts": noisy,
        "mechanism": release.mechanism,
        "epsilon": release.epsilon,
        "noise_scale": release.scale,
        "budget": {"total": state.total, "spent": state.spent, "remaining": state.remaining},
    }
    if json_out:
        print_json(document)
        return
    print_table(
        f"{query}: differentially private, epsilon {epsilon:g}",
        [
            " × ".join(dims),
            *(category_label(dims[1], c) if len(dims) == 2 else "contacts" for c in cols),
        ],
        (
            [category_label(dims[0], row), *(f"{v:,}" for v in values)]
            for row, values in zip(rows, noisy, strict=True)
        ),
    )
    console.print(
        f"noise: {release.mechanism}, scale {release.scale:g}; unit of privacy: one contact\n"
        f"privacy budget {DP_DATASET}: {state.spent:g} of {state.total:g} spent, "
        f"{state.remaining:g} left",
        highlight=False,
    )


@app.command()
def budget(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The differential-privacy budget of the helpline contacts and every release made from it.

    Example: safeguarding helpline budget --json
    """
    with store(on_outdated="refuse", must_exist=True) as opened, opened.session() as session:
        releases = list(
            session.scalars(
                select(DpReleaseRow)
                .where(DpReleaseRow.dataset == DP_DATASET)
                .order_by(DpReleaseRow.id)
            )
        )
        state = dp.budget_state(session, DP_DATASET) if releases else None
    entries = [
        {
            "released_at": r.released_at,
            "query": r.query,
            "epsilon": r.epsilon,
            "mechanism": r.mechanism,
        }
        for r in releases
    ]
    summary = {
        "dataset": DP_DATASET,
        "total": state.total if state else None,
        "spent": state.spent if state else 0.0,
        "remaining": state.remaining if state else None,
        "releases": entries,
    }
    if json_out:
        print_json(summary)
        return
    if state is None:
        console.print(f"no differentially private release of {DP_DATASET} yet")
        return
    print_table(
        f"privacy budget {DP_DATASET}: {state.spent:g} of {state.total:g} spent",
        ["released at", "query", "epsilon"],
        ([str(e["released_at"])[:19], e["query"], f"{e['epsilon']:g}"] for e in entries),
    )


@app.command("purge-notes")
def purge_notes(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Delete every note past its retention period ([helpline] note_retention_days).

    Example: safeguarding helpline purge-notes
    """
    with store(must_exist=True) as opened, opened.session() as session:
        deleted = purge_expired(session)
        kept = session.scalar(select(func.count()).select_from(HelplineNoteRow)) or 0
        counts = {"deleted": str(deleted), "kept": str(kept)}
        audit.record(
            session, audit.cli_actor(), "helpline.notes.purge", "helpline_note", "", counts
        )
    if json_out:
        print_json({"deleted": deleted, "kept": kept})
    else:
        console.print(f"{deleted} expired notes deleted, {kept} kept", highlight=False)


LIST_COLUMNS = (
    "id",
    "contact_ref",
    "year",
    "month",
    "channel",
    "contact_kind",
    "caller_type",
    "concern",
    "age_band",
    "gender",
    "action",
    "referral",
    "synthetic",
)


@app.command("list")
def list_contacts(
    limit: int = typer.Option(20, "--limit", min=1, max=10000, help="At most this many."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The most recent contacts, coded fields only (never notes or caller tokens).

    This listing is for helpline staff inside the system; it is not under disclosure control and
    is not for publication.

    Example: safeguarding helpline list --limit 5 --json
    """
    columns = [getattr(HelplineContactRow, name) for name in LIST_COLUMNS]
    with store(on_outdated="refuse", must_exist=True) as opened, opened.session() as session:
        rows = session.execute(
            select(*columns).order_by(HelplineContactRow.id.desc()).limit(limit)
        ).all()
        # Contacts one by one, outside disclosure control: seeing them is audited.
        shown = {"limit": str(limit), "rows": str(len(rows))}
        audit.record(
            session, audit.cli_actor(), "helpline_contact.list", "helpline_contact", "", shown
        )
    records = [dict(zip(LIST_COLUMNS, row, strict=True)) for row in rows]
    if json_out:
        print_json(records)
        return
    print_table(
        f"{len(records)} most recent contacts",
        LIST_COLUMNS,
        ([record[c] for c in LIST_COLUMNS] for record in records),
    )
