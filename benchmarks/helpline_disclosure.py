"""Helpline and disclosure-control throughput: suppression, identifier scanning, import, statistics.

Run: .venv/bin/python benchmarks/helpline_disclosure.py [--contacts N]

Prints, per step, the size of the input and the time taken. There is no reference tool in the
same runtime to compare against (tau-ARGUS is a Windows/Java desktop program), so figures are
absolute.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from safeguarding.config import Settings, sqlite_url
from safeguarding.disclosure.suppression import PUBLISHED, bridges, suppress
from safeguarding.helpline.identifiers import find_identifiers
from safeguarding.helpline.importer import IngestKeys, PreparedContact, store_contacts
from safeguarding.helpline.sample import sample_reports
from safeguarding.helpline.stats import helpline_stats, load_facts
from safeguarding.store import open_store


def bench_suppression() -> None:
    rng = np.random.default_rng(1)
    for size in (10, 30, 60, 100):
        # Mostly large counts with about 10% small cells, like a sparse breakdown.
        table = rng.integers(10, 200, (size, size))
        small = rng.random((size, size)) < 0.1
        table[small] = rng.integers(1, 10, int(small.sum()))
        start = time.perf_counter()
        result = suppress(table)
        elapsed = time.perf_counter() - start
        assert bridges(result.status != PUBLISHED) == []
        print(
            f"suppress {size}x{size}: {result.count(1)} primary, {result.count(2)} secondary "
            f"in {elapsed * 1000:.1f} ms"
        )


def bench_identifiers() -> None:
    notes = [
        "Caller worried about escalating viewing since 2019; discussed stopping, 45 minutes.",
        "Partner asked for support; call back on 06-12345678 or mail a.b@example.org.",
    ] * 25_000
    start = time.perf_counter()
    found = sum(len(find_identifiers(note)) for note in notes)
    elapsed = time.perf_counter() - start
    print(
        f"identifier scan: {len(notes):,} notes, {found:,} findings, "
        f"{len(notes) / elapsed:,.0f} notes/s"
    )


def bench_store(contacts: int) -> None:
    reports = sample_reports(1)
    repeats = max(1, contacts // len(reports))
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        settings = Settings(home=home, database_url=sqlite_url(home / "bench.db"))
        store = open_store(settings)
        keys = IngestKeys.from_store(store)
        copies = [
            report.model_copy(update={"contact_id": f"{report.contact_id}-{copy}"})
            for copy in range(repeats)
            for report in reports
        ]
        prepared = [PreparedContact(r, keys.import_key(r, 0), synthetic=True) for r in copies]
        start = time.perf_counter()
        with store.session() as session:
            inserted, _ = store_contacts(session, prepared, keys)
        elapsed = time.perf_counter() - start
        print(
            f"store: {inserted:,} contacts in {elapsed:.2f} s "
            f"({inserted / elapsed:,.0f} contacts/s, SQLite)"
        )
        start = time.perf_counter()
        with store.session() as session:
            facts = load_facts(session)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        helpline_stats(facts, ("age_band", "year"))
        computed = time.perf_counter() - start
        print(
            f"stats: load {facts.contacts.height:,} contacts {loaded:.2f} s, "
            f"tables and comparisons {computed:.2f} s"
        )
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    args = parser.parse_args()
    bench_suppression()
    bench_identifiers()
    bench_store(args.contacts)


if __name__ == "__main__":
    main()
