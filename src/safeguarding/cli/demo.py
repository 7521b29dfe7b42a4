"""``safeguarding demo``: build a fresh demo store from sample data and write the monitor report."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from rich.text import Text

from safeguarding.cli.common import console
from safeguarding.config import Settings, sqlite_url
from safeguarding.store import open_store


def demo(
    directory: Path = typer.Option(
        Path("var/demo"), "--dir", help="Where to build the demo store."
    ),
    seed: int = typer.Option(20240501, "--seed", help="Seed of the synthetic sample data."),
) -> None:
    """Build a fresh demo store (SQLite) with synthetic sample data and write its monitor report.

    Example: safeguarding demo --dir var/demo --seed 1
    """
    # Every area and the report's charts are imported here, not with the command line: every
    # other command would pay their start-up for nothing.
    from safeguarding.demo import build_demo
    from safeguarding.reporting.monitor import write_monitor

    if directory.exists():
        shutil.rmtree(directory)
    settings = Settings(home=directory, database_url=sqlite_url(directory / "safeguarding.db"))
    store = open_store(settings)
    try:
        build_demo(
            store,
            seed,
            lambda name, summary: console.print(
                Text.assemble(("✓", "green"), f" {name}: {summary}")
            ),
        )
        path = write_monitor(store, directory / "monitor.html")
    finally:
        store.dispose()
    console.print(f"monitor report: {path}")


def register(app: typer.Typer) -> None:
    app.command()(demo)
