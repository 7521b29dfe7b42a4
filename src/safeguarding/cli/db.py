"""``safeguarding db``: the store's schema."""

from __future__ import annotations

import typer

from safeguarding.cli.common import console, print_json, store

app = typer.Typer(help="The database: schema status and migrations.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Apply every pending migration.

    Example: safeguarding db upgrade
    """
    with store(on_outdated="ignore") as opened:
        applied = opened.upgrade()
        if applied:
            console.print(f"upgraded {opened.display_url}: now at {', '.join(applied)}")
        else:
            console.print(f"{opened.display_url} is already at the current schema")


@app.command()
def status(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the database, its schema revisions and whether it is current.

    Example: safeguarding db status --json
    """
    with store(on_outdated="ignore", must_exist=True) as opened:
        current, heads = opened.current_revisions(), opened.head_revisions()
        info = {
            "database": opened.display_url,
            "dialect": opened.dialect,
            "current": sorted(current),
            "heads": sorted(heads),
            "up_to_date": current == heads,
        }
    if json_out:
        print_json(info)
    else:
        for key, value in info.items():
            console.print(f"{key}: {value}")
