"""``safeguarding demo``: build a fresh demo store from sample data and write the monitor report.

It builds in ``--dir``, else in the data directory ``SAFEGUARDING_HOME`` names, else in
``var/demo``: the commands run after it (``queue``, ``monitor`` …) then find the demo where they
look. The build replaces its directory, so whichever way it is chosen, a directory is replaced only
when it is empty or holds a demo built before (``MARKER``): ``--dir .`` or ``--dir`` on a copy of
a real store must not delete it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import typer
from rich.text import Text

from safeguarding.cli.common import console, shown
from safeguarding.config import ENV_HOME, Settings, sqlite_url
from safeguarding.errors import ValidationError
from safeguarding.store import open_store

DEFAULT_DIRECTORY = Path("var/demo")
# Left in every demo directory: what tells a demo, which may be replaced, from a real store.
MARKER = ".safeguarding-demo"


def _directory(given: Path | None) -> Path:
    """Where to build: ``--dir``, else the data directory of ``SAFEGUARDING_HOME``, else
    ``var/demo``; refused when it holds anything but an earlier demo."""
    if given is not None:
        return _replaceable(given, f"--dir {given}")
    home = os.environ.get(ENV_HOME)
    if not home:
        return _replaceable(DEFAULT_DIRECTORY, str(DEFAULT_DIRECTORY))
    return _replaceable(Path(home).expanduser(), f"{ENV_HOME}={home}")


def _replaceable(directory: Path, named: str) -> Path:
    if directory.exists() and not directory.is_dir():
        raise ValidationError(f"{named} is a file, not a directory; choose another with --dir")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / MARKER).is_file():
        raise ValidationError(
            f"{named} holds data that is not a demo store, and the demo replaces its directory; "
            "choose an empty or new directory with --dir"
        )
    return directory


def demo(
    directory: Path | None = typer.Option(
        None,
        "--dir",
        help=f"Where to build the demo store (default: {ENV_HOME} when set, else var/demo).",
    ),
    seed: int = typer.Option(
        20240501,
        "--seed",
        min=0,
        max=2**32 - 1,
        help="Seed of the synthetic sample data (0 to 4294967295).",
    ),
) -> None:
    """Build a fresh demo store (SQLite) with synthetic sample data and write its monitor report.

    Example: safeguarding demo --dir var/demo --seed 1
    """
    # Every area and the report's charts are imported here, not with the command line: every
    # other command would pay their start-up for nothing.
    from safeguarding.demo import build_demo
    from safeguarding.reporting.monitor import write_monitor

    directory = _directory(directory)
    if directory.exists():
        shutil.rmtree(directory)
    settings = Settings(home=directory, database_url=sqlite_url(directory / "safeguarding.db"))
    settings.ensure_home()
    (directory / MARKER).write_text("built by safeguarding demo; the demo may replace it\n")
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
    console.print(f"monitor report: {shown(path)}")


def register(app: typer.Typer) -> None:
    app.command()(demo)
