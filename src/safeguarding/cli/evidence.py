"""``safeguarding evidence``: the published figures every computation cites."""

from __future__ import annotations

import typer
from rich.text import Text

from safeguarding.cli.common import console, print_json, print_table
from safeguarding.errors import SafeguardingError
from safeguarding.evidence import shipped_evidence
from safeguarding.evidence.loader import TAGS

app = typer.Typer(help="Published figures with sources and reliability tags.", no_args_is_help=True)


def _years(years: tuple[int, ...]) -> str:
    return "–".join(str(y) for y in years) if years else "–"


@app.command("list")
def list_figures(
    tag: str | None = typer.Option(None, "--tag", help="Only figures with this tag: P, S or U."),
    topic: str | None = typer.Option(
        None, "--topic", help="Only figures whose topic contains this."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the evidence figures.

    Example: safeguarding evidence list --tag P
    """
    if tag is not None and tag not in TAGS:
        raise typer.BadParameter(f"tag must be one of {', '.join(TAGS)}", param_hint="--tag")
    figures = [
        f
        for f in shipped_evidence()
        if (tag is None or f.tag == tag) and (topic is None or topic.lower() in f.topic.lower())
    ]
    if json_out:
        print_json([f.as_dict() for f in figures])
        return
    print_table(
        f"{len(figures)} evidence figures",
        ["id", "tag", "years", "statement", "source"],
        ([f.id, f.tag, _years(f.years), f.statement, f.source] for f in figures),
    )


@app.command()
def show(
    figure_id: str = typer.Argument(..., help="The figure's id, e.g. pdq.threshold."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one figure with its source, tag and machine-readable values.

    Example: safeguarding evidence show ncmec.bundling.2024
    """
    try:
        figure = shipped_evidence().get(figure_id)
    except KeyError as exc:
        raise SafeguardingError(str(exc.args[0])) from exc
    if json_out:
        print_json(figure.as_dict())
        return
    console.print(Text.assemble((figure.id, "bold"), f"  [{figure.tag}: {TAGS[figure.tag]}]"))
    console.print(f"topic:     {figure.topic}")
    console.print(f"statement: {figure.statement}")
    console.print(f"years:     {_years(figure.years)}")
    console.print(f"source:    {figure.source}")
    if figure.url:
        console.print(f"address:   {figure.url}")
    if figure.note:
        console.print(f"note:      {figure.note}")
    print_table(
        None,
        ["value", "number", "unit", "year", "bound", "tag"],
        (
            [v.name, f"{v.value:,.10g}", v.unit, v.year or "", v.bound, figure.tag_of(v)]
            for v in figure.values
        ),
    )
