"""The demo's notifications: sample reports and lists ingested, their matches in the monitor."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import text

from safeguarding.reporting.sections.notifications import build
from safeguarding.store import Store
from safeguarding.triage.sample import load_sample


def _rows(html: str) -> list[list[str]]:
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", html)
    ]


def test_section_counts_equal_the_store_and_show_no_identifiers(store: Store) -> None:
    assert build(store) is None  # nothing in yet: the section is left out
    load_sample(store, seed=3, reports=40)
    section = build(store)
    assert section is not None
    rows = _rows(section.body)
    with store.engine.connect() as connection:
        reports = connection.execute(text("SELECT count(*) FROM provider_report")).scalar_one()
        per_kind = {
            (name, kind): n
            for name, kind, n in connection.execute(
                text("SELECT l.name, m.hash_kind, count(*) FROM hash_match m JOIN hash_list l "
                     "ON l.id = m.list_id GROUP BY l.name, m.hash_kind")
            ).all()
        }  # fmt: skip
        names = connection.execute(text("SELECT name FROM hash_list")).scalars().all()
    # A list nothing matched is one row of its own, with no hash kind.
    matched = {name for name, _kind in per_kind}
    per_kind.update({(name, "–"): 0 for name in names if name not in matched})
    assert ["sample-ncmec", str(reports), str(reports)] in rows  # one source, one format
    shown = {(row[0], row[5]): row[7] for row in rows if len(row) == 9}
    assert shown == {key: "x" if 0 < n < 10 else str(n) for key, n in per_kind.items()}
    assert "x" in shown.values() and any(v != "x" for v in shown.values())
    # the sample's two quarantined reports are one each: named, their counts withheld
    assert sorted(r for r in rows if len(r) == 3 and r[1] == "report") == [
        ["unknown_enum", "report", "x"], ["xml_dtd_forbidden", "report", "x"],
    ]  # fmt: skip
    assert "pdq.threshold" in section.provenance
    for identifier in ("@example.org", "acct-", "fictional_user", "192.0.2."):
        assert identifier not in section.body


@pytest.mark.xdist_group("demo")
def test_demo_monitor_has_the_notifications_section(demo_build: tuple[Path, str]) -> None:
    directory, output = demo_build
    assert "notifications:" in output
    html = (directory / "monitor.html").read_text()
    assert 'id="notifications"' in html and "sample-known" in html
