"""Altair charts rendered to inline SVG, so reports need no script and make no external request."""

from __future__ import annotations

from typing import Any

import vl_convert as vlc


def to_svg(chart: Any) -> str:
    """Render an Altair chart to an SVG string (fonts and data embedded, nothing fetched)."""
    spec = chart.to_dict() if hasattr(chart, "to_dict") else chart
    svg: str = vlc.vegalite_to_svg(spec)
    return svg
