"""``safeguarding monitor``: write the monitor report."""

from __future__ import annotations

from pathlib import Path

import typer

from safeguarding.cli.common import console, store


def monitor(
    out: Path = typer.Option(Path("monitor.html"), "--out", help="Where to write the HTML file."),
) -> None:
    """Write the monitor report: one self-contained HTML file over every area.

    Example: safeguarding monitor --out var/monitor.html
    """
    # The report's chart library is imported here, not with the command line: every other
    # command would pay its start-up for nothing.
    from safeguarding.reporting.monitor import write_monitor

    with store(on_outdated="refuse", must_exist=True) as opened:
        path = write_monitor(opened, out)
        console.print(f"wrote {path} from {opened.display_url}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(monitor)
