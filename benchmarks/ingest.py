"""End-to-end ingest: generated NCMEC XML reports against a large PDQ list and a large MD5 list.

    .venv/bin/python benchmarks/ingest.py [--reports 100000] [--list-size 1000000] [--keep DIR]

Writes ``--reports`` synthetic reports (one ``<report>`` and two ``<fileDetails>`` documents each,
hashes given in the XML) into one zip archive, imports a PDQ list and an MD5 list of
``--list-size`` entries each (the base hashes of some content families plus random fill), then
times ``ingest`` (parse, validate, pseudonymise, store, match) into a fresh SQLite store and prints
reports per second. List import is timed separately. With ``--keep DIR`` the archive and the
home holding the imported lists (store, index, keys) are kept in ``DIR`` and reused by later runs
of the same sizes and seed (the home is copied: every run ingests into the same starting state).
On a virtual machine it also prints the steal time during the run: CPU time the host gave other
guests while this run was counted as having the cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from safeguarding.access.audit import cli_actor
from safeguarding.allocator import reuse_freed_memory
from safeguarding.config import Settings, sqlite_url
from safeguarding.hashing.pdq_bits import words_to_hex
from safeguarding.store import open_store
from safeguarding.triage.context import intake_context
from safeguarding.triage.generate import GeneratorConfig, generate, random_pdq
from safeguarding.triage.hashlists import import_list
from safeguarding.triage.ingest import ingest
from safeguarding.triage.listformats import read_hash_csv


def write_lists(directory: Path, corpus_pdq: list[str], corpus_md5: list[str], size: int) -> None:
    listed = len(corpus_pdq) // 10
    pdq = corpus_pdq[:listed] + words_to_hex(random_pdq(size - listed, 99))
    rng = np.random.default_rng(98)
    fill = rng.integers(0, 256, size=(size - listed, 16), dtype=np.uint8)
    md5 = corpus_md5[:listed] + [row.tobytes().hex() for row in fill]
    (directory / "pdq.csv").write_text("hash,type\n" + "".join(f"{h},PDQ\n" for h in pdq))
    (directory / "md5.csv").write_text("hash,type\n" + "".join(f"{h},MD5\n" for h in md5))


def main() -> None:
    reuse_freed_memory()  # as the command line does
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--list-size", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="directory that keeps the archive and lists")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        root = Path(tmp)
        name = f"ingest-{args.reports}-{args.list_size}-{args.seed}"
        kept = args.keep / name if args.keep else None
        if kept is not None and (kept / "home").exists():
            shutil.copytree(kept / "home", root / "home")
            archive_path = kept / "reports.zip"
            print(f"reusing the archive and lists kept in {kept}")
        else:
            archive_path = prepare(root, args)
            if kept is not None:
                kept.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(archive_path, kept / "reports.zip")
                shutil.copytree(root / "home", kept / "home")
        settings = Settings(home=root / "home", database_url=sqlite_url(root / "home" / "s.db"))
        store = open_store(settings)
        context = intake_context(store)
        start = time.perf_counter()
        with store.session() as session:
            # The index lives beside the store it belongs to: a copied store builds it again.
            if context.matcher.sync(session):
                print(f"PDQ index of the kept lists built in {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        cpu_before = _cpu()
        parent_before = _cpu(children=False)
        steal_before = _machine_steal()
        summary = ingest(
            store,
            [archive_path],
            source="bench",
            writer_factory=lambda run_id, at: context.writer("bench", run_id, at),
            matcher=context.matcher,
            options=context.options,
        )
        elapsed = time.perf_counter() - start
        cpu = _cpu() - cpu_before
        parent = _cpu(children=False) - parent_before
        steal = _machine_steal() - steal_before if steal_before >= 0 else -1.0
        store.dispose()
    assert summary.reports_stored == args.reports, summary
    print(
        f"ingest: {summary.reports_stored:,} reports, {summary.files_stored:,} files, "
        f"{summary.matches:,} matches in {elapsed:.1f} s: "
        f"{summary.reports_stored / elapsed:,.0f} reports/s wall; "
        f"{cpu:.1f} CPU-seconds (parent and parsers): "
        f"{summary.reports_stored / cpu:,.0f} reports per CPU-second"
    )
    print(
        f"of which the writing process (store, match, PDQ search threads) {parent:.1f} CPU-s, "
        f"the parse workers {cpu - parent:.1f} CPU-s; load {os.getloadavg()}"
    )
    if steal >= 0:
        print(f"steal (CPU time the host gave other guests, all cores): {steal:.1f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the writing process (whole benchmark): {peak:,.0f} MiB")


def prepare(root: Path, args: argparse.Namespace) -> Path:
    """Writes the archive and lists under ``root`` and imports the lists into a new store at
    ``root/home/s.db``; returns the archive's path."""
    start = time.perf_counter()
    corpus = generate(
        GeneratorConfig(
            seed=args.seed, reports=args.reports, families=args.reports // 5,
            subjects=args.reports // 3,
        )
    )  # fmt: skip
    # One zip archive, as batches arrive: 300,000 small files would measure the file system.
    with zipfile.ZipFile(root / "reports.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in corpus.documents():
            archive.writestr(name, data)
    write_lists(root, corpus.family_pdq, corpus.family_md5, args.list_size)
    print(f"generated {args.reports} reports in {time.perf_counter() - start:.1f} s")

    settings = Settings(home=root / "home", database_url=sqlite_url(root / "home" / "s.db"))
    store = open_store(settings)
    context = intake_context(store)
    start = time.perf_counter()
    for name, hash_type in (("pdq", "pdq"), ("md5", "md5")):
        data = (root / f"{name}.csv").read_bytes()
        import_list(
            store, context.matcher, context.sealer,
            read_hash_csv(data, f"{name}.csv", hash_type=hash_type),  # type: ignore[arg-type]
            name=name, kind="known", source_file=f"{name}.csv",
            pdq_threshold=context.options.pdq_threshold,
            flood_share=context.options.flood_share, actor=cli_actor(),
        )  # fmt: skip
    print(f"imported 2 lists of {args.list_size:,} entries in {time.perf_counter() - start:.1f} s")
    store.dispose()
    return root / "reports.zip"


def _cpu(*, children: bool = True) -> float:
    """CPU seconds of this process and (unless told not to) its finished children (the parse
    workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    if children:
        done = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += done.ru_utime + done.ru_stime
    return total


def _machine_steal() -> float:
    """Seconds of CPU time a virtual machine's host has run other guests on this machine's cores
    (``steal`` in ``/proc/stat``; -1 where there is none to read): time a run waited for cores
    it was counted as having."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return -1.0


if __name__ == "__main__":
    main()
