"""``safeguarding monitor``: write the monitor report."""

from __future__ import annotations

from pathlib import Path

import typer

from safeguarding.cli.common import console, store
from safeguarding.reporting.monitor import write_monitor


def monitor(
    out: Path = typer.Option(Path("monitor.html"), "--out", help="Where to write the HTML file."),
) -> None:
    """Write the monitor report: one self-contained HTML file over every area.

    Example: safeguarding monitor --out var/monitor.html
    """
    with store() as opened:
        path = write_monitor(opened, out)
    console.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command()(monitor)
