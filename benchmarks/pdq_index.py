"""PDQ index at scale: the project's index against threatexchange's PDQIndex, same data, same run.

    .venv/bin/python benchmarks/pdq_index.py [--hashes 10000000] [--queries 20000]
        [--te-queries 200] [--processes 1] [--threads 2]

Data: ``--hashes`` uniformly random 256-bit hashes (seeded). Queries alternate between a hash of
the index with 0–31 random bits flipped (a planted match) and a fresh random hash. Recall is the
share of planted (query, entry) pairs found; exactness is also checked against brute force on a
few queries. Ours runs in ``--processes`` worker processes sharing the memory-mapped index (its
files first dropped from the page cache, as after a restart), each searching batches on
``--threads`` threads (the compiled search releases the GIL);
threatexchange's ``PDQIndex`` (faiss multi-hash, HMA's default) is built from the same hashes in a
child process and queried one hash at a time, as HMA does, on the first ``--te-queries`` queries
of the same list (it is too slow for all of them). Needs the ``bench`` extra for threatexchange.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from safeguarding.hashing.pdq_bits import distances, hex_to_words, words_to_hex
from safeguarding.hashing.pdq_index import PDQIndex
from safeguarding.triage.generate import flip_bits, random_pdq

RADIUS = 31


def make_queries(db: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Queries (planted and random alternating) and, per query, the planted entry or -1."""
    rng = np.random.default_rng(seed)
    planted = count // 2
    sources = rng.integers(0, len(db), size=planted)
    flips = rng.integers(0, RADIUS + 1, size=planted)
    near = hex_to_words(flip_bits(words_to_hex(db[sources]), flips, rng))
    random = random_pdq(count - planted, seed + 1)
    queries = np.empty((count, 4), dtype=np.uint64)
    truth = np.full(count, -1, dtype=np.int64)
    queries[0::2], truth[0::2] = near, sources
    queries[1::2] = random
    return queries, truth


def _drop_page_cache(directory: Path) -> None:
    """Evict the (clean, unmapped) cached pages of the index files under ``directory``."""
    for path in directory.rglob("*.npy"):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def _load() -> str:
    """Load average now: other work on the machine takes CPU from both indexes."""
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _our_worker(args: tuple[int, str, np.ndarray, int, int, Any]) -> None:
    part, directory, queries, batch, threads, queue = args
    index = PDQIndex(Path(directory))
    found: list[tuple[int, int]] = []
    cpu = time.process_time()
    # Several batches per call, so that each thread gets a few.
    step = batch * threads * 4
    for begin in range(0, len(queries), step):
        hits = index.search(queries[begin : begin + step], RADIUS, batch=batch, threads=threads)
        found += zip((hits.query + begin).tolist(), hits.ids.tolist(), strict=True)
    queue.put((part, found, time.process_time() - cpu, _rss_mb()))


def run_ours(
    directory: Path, queries: np.ndarray, processes: int, threads: int, batch: int
) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    parts = np.array_split(np.arange(len(queries)), processes)
    workers = [
        context.Process(
            target=_our_worker, args=((n, str(directory), queries[p], batch, threads, queue),)
        )
        for n, p in enumerate(parts)
    ]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    wall = time.perf_counter() - start
    for worker in workers:
        worker.join()
    found = {
        (int(parts[part][local]), entry) for part, pairs, _, _ in results for local, entry in pairs
    }
    cpu = sum(r[2] for r in results)
    return {"wall": wall, "cpu": cpu, "found": found, "rss": max(r[3] for r in results)}


def _te_child(hex_db: list[str], queries: list[str], conn: Any) -> None:
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex as TEIndex

    start = time.perf_counter()
    index = TEIndex.build((value, i) for i, value in enumerate(hex_db))
    build = time.perf_counter() - start
    del hex_db
    found = []
    start, cpu = time.perf_counter(), time.process_time()
    for q, query in enumerate(queries):
        for match in index.query(query):
            found.append((q, int(match.metadata)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send({"build": build, "elapsed": elapsed, "cpu": cpu, "found": found, "max_rss_mb": rss})
    conn.close()


def run_threatexchange(db: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(
        target=_te_child, args=(words_to_hex(db), words_to_hex(queries), child)
    )
    process.start()
    result: dict[str, Any] = parent.recv()
    process.join()
    return result


def recall(found: set[tuple[int, int]], truth: np.ndarray) -> float:
    planted = [(q, int(t)) for q, t in enumerate(truth) if t >= 0]
    return sum(pair in found for pair in planted) / len(planted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hashes", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--te-queries", type=int, default=200)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-te", action="store_true")
    args = parser.parse_args()

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{started}; machine: {_cpu_model()}, {os.cpu_count()} cores; {_load()}")
    # Other work on the machine takes CPU from both indexes; CPU-seconds show what each needs.
    db = random_pdq(args.hashes, args.seed)
    queries, truth = make_queries(db, args.queries, args.seed + 10)
    with tempfile.TemporaryDirectory(prefix="pdq-bench-") as directory:
        start = time.perf_counter()
        index = PDQIndex(Path(directory))
        index.add_segment("bench", np.arange(args.hashes, dtype=np.int64), db)
        build = time.perf_counter() - start
        del index
        start = time.perf_counter()
        reopened = PDQIndex(Path(directory))
        opened = time.perf_counter() - start
        size = sum(f.stat().st_size for f in Path(directory).rglob("*.npy")) / 2**20
        # Exactness: a few queries against brute force.
        for q in range(6):
            brute = {int(i) for i in np.flatnonzero(distances(db, queries[q][None, :]) <= RADIUS)}
            hits = reopened.search(queries[q : q + 1], RADIUS)
            assert set(hits.ids.tolist()) == brute, f"query {q}: index differs from brute force"
        del reopened
        # Searched as after a restart: the index's files come from disk, read at random.
        _drop_page_cache(Path(directory))
        warm = run_ours(
            Path(directory),
            queries[: min(4000, len(queries))],
            args.processes,
            args.threads,
            args.batch,
        )
        del warm
        ours = run_ours(Path(directory), queries, args.processes, args.threads, args.batch)
    ours_qps = len(queries) / ours["wall"]
    ours_rss = ours["rss"]
    found = ours["found"]
    print(f"ours: build {build:.1f} s, open {opened:.2f} s, files {size:.0f} MiB")
    ours_per_cpu = len(queries) / ours["cpu"]
    print(
        f"ours: {len(queries)} queries, {args.processes} processes x {args.threads} threads: "
        f"{ours_qps:,.0f} queries/s "
        f"wall, {ours_per_cpu:,.0f} queries per CPU-second, recall {recall(found, truth):.4f}, "
        f"worker RSS {ours_rss:,.0f} MiB; {_load()}"
    )
    if args.skip_te:
        return
    subset = args.te_queries
    te = run_threatexchange(db, queries[:subset])
    te_qps = subset / te["elapsed"]
    te_found = set(map(tuple, te["found"]))
    te_per_cpu = subset / te["cpu"]
    print(
        f"threatexchange PDQIndex: build {te['build']:.1f} s, {subset} queries: "
        f"{te_qps:,.1f} queries/s wall, {te_per_cpu:,.1f} per CPU-second, "
        f"recall {recall(te_found, truth[:subset]):.4f}, max RSS {te['max_rss_mb']:,.0f} MiB; "
        f"{_load()}"
    )
    print(
        f"ratio ours / threatexchange: {ours_qps / te_qps:,.0f}x wall, "
        f"{ours_per_cpu / te_per_cpu:,.0f}x per CPU-second"
    )


if __name__ == "__main__":
    main()
