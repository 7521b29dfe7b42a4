"""``safeguarding monitor``: write the monitor report."""

from __future__ import annotations

from pathlib import Path

import typer

from safeguarding.cli.common import console, output_file, shown, store, writing


def monitor(
    out: Path = typer.Option(Path("monitor.html"), "--out", help="Where to write the HTML file."),
) -> None:
    """Write the monitor report: one self-contained HTML file over every area.

    Example: safeguarding monitor --out var/monitor.html
    """
    # The report's chart library is imported here, not with the command line: every other
    # command would pay its start-up for nothing.
    from safeguarding.reporting.monitor import write_monitor

    output_file(out, "--out")
    with store(on_outdated="refuse", must_exist=True) as opened:
        with writing(out, "--out"):
            path = write_monitor(opened, out)
        console.print(f"wrote {shown(path)} from {opened.display_url}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(monitor)
