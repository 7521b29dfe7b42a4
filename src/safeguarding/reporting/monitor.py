"""The monitor report: one self-contained HTML file with every area of the store.

Each area contributes a section (``reporting/sections``); an area with no data yet is left out
rather than shown empty. The file embeds its styles and charts (SVG) and makes no external request,
so it can be opened offline and passed on as one file. It names no database or file of the
server: researchers read it (``/monitor``), and the command that writes it tells the operator
which store it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from safeguarding import __version__
from safeguarding.reporting.html import Section
from safeguarding.reporting.sections import (
    assess,
    evidence,
    helpline,
    notifications,
    platforms,
    triage,
)
from safeguarding.store import Store

SectionBuilder = Callable[[Store], Section | None]

# The order in which areas appear in the report.
SECTION_BUILDERS: tuple[SectionBuilder, ...] = (
    notifications.build,
    triage.build,
    assess.build,
    platforms.build,
    helpline.build,
    evidence.build,
)


def build_sections(store: Store) -> list[Section]:
    return [section for build in SECTION_BUILDERS if (section := build(store)) is not None]


def render_monitor(store: Store, *, generated_at: datetime | None = None) -> str:
    env = Environment(
        loader=PackageLoader("safeguarding.reporting", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    template = env.get_template("monitor.html.j2")
    return template.render(
        sections=build_sections(store),
        generated_at=(generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )


def write_monitor(store: Store, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_monitor(store), encoding="utf-8")
    return out
