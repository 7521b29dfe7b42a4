"""Synthetic triage tables with known ground truth, for tests, benchmarks and the demo.

Everything here is generated from a seed and is fictional: no real report, person or picture.
Content comes in families: a random 256-bit PDQ root and a few variants at most ``variant_bits``
bits away (so all of a family lies within 2 × ``variant_bits`` <= 31 bits of each other and
clusters together), each variant with its own exact hash; a file is an exact copy of one of its
family's variants. Random roots lie about 128 bits apart, so families never merge by accident
(the chance two lie within 31 bits is below 1e-18 per pair). Reports belong to subjects; every
report carries its subject's provider account id (linking it), sometimes an email or screen name,
and an IP sighting. Some IP addresses are reassigned: the same address shows up for another subject
at least 30 days later, which must not link them (the window is hours).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safeguarding.triage.tables import (
    ACCOUNT_ID,
    FILE_FLAGS,
    OTHER,
    SCREEN_NAME,
    FileTable,
    IdentifierTable,
    ReportTable,
)
from safeguarding.triage.unionfind import IntArray

START = 1_735_689_600  # 2025-01-01T00:00:00Z
YEAR = 365 * 86_400
_SIGNAL_RATES = {
    "escalate": 0.01,
    "enticement": 0.03,
    "sextortion": 0.02,
    "csam_solicitation": 0.02,
    "sadistic_exploitation": 0.003,
    "minor_to_minor": 0.05,
    "informational": 0.05,
    "batched_meme": 0.02,
    "victim_identified": 0.02,
    "access_to_children": 0.01,
    "reported_user_minor": 0.08,
}
_FLAG_RATES = {
    "known": 0.6,
    "allow": 0.03,
    "potential_meme": 0.02,
    "viral": 0.01,
    "possible_self_production": 0.03,
    "live_streaming": 0.005,
    "infant": 0.01,
    "physical_harm": 0.01,
    "violence_gore": 0.005,
    "bestiality": 0.002,
    "sex_act_a1_b1": 0.15,
}


@dataclass(frozen=True)
class SyntheticTriage:
    reports: ReportTable
    files: FileTable
    identifiers: IdentifierTable
    true_family: IntArray  # per file: its family, or (low-quality variants) n_families + variant
    true_subject: IntArray  # per report


def _flip_bits(rng: np.random.Generator, words: np.ndarray, bits: IntArray) -> np.ndarray:
    """Flip ``bits[i]`` distinct random bits of row ``i``."""
    out = words.copy()
    for count in np.unique(bits):
        rows = np.flatnonzero(bits == count)
        if count == 0 or rows.size == 0:
            continue
        positions = np.argsort(rng.random((rows.size, 256)), axis=1)[:, :count]
        for column in range(int(count)):
            pos = positions[:, column]
            word = pos // 64
            mask = np.left_shift(np.uint64(1), (pos % 64).astype(np.uint64))
            out[rows, word] ^= mask
    return out


def generate(
    *,
    n_reports: int,
    files_per_report: float = 2.0,
    n_families: int | None = None,
    variants_per_family: float = 1.5,
    variant_bits: int = 12,
    n_subjects: int | None = None,
    low_quality_share: float = 0.02,
    start_id: int = 1,
    seed: int = 0,
) -> SyntheticTriage:
    """Reports, files and identifiers with their true content families and subjects."""
    if not 0 <= variant_bits <= 15:
        raise ValueError("variant_bits must be 0..15 so a family stays within 31 bits")
    rng = np.random.default_rng(seed)
    n_families = n_families or max(1, n_reports // 10)
    n_subjects = n_subjects or max(1, n_reports // 3)

    # Content: family roots, variants, and per family a popularity (heavy tail: a few go viral).
    roots = rng.integers(0, 2**64, size=(n_families, 4), dtype=np.uint64)
    extra = rng.poisson(variants_per_family, size=n_families)
    variant_family = np.repeat(np.arange(n_families), 1 + extra)
    variant_bits_each = np.where(
        np.r_[True, variant_family[1:] != variant_family[:-1]],
        0,
        rng.integers(1, variant_bits + 1, size=variant_family.size) if variant_bits else 0,
    )
    variant_words = _flip_bits(rng, roots[variant_family], variant_bits_each)
    popularity = 1.0 / np.arange(1, n_families + 1) ** 0.9
    popularity = rng.permutation(popularity / popularity.sum())

    files_each = np.maximum(1, rng.poisson(files_per_report, size=n_reports))
    n_files = int(files_each.sum())
    report_of_file = np.repeat(np.arange(n_reports, dtype=np.int64), files_each)
    first_of_report = np.cumsum(files_each) - files_each
    position = np.arange(n_files) - np.repeat(first_of_report, files_each) + 1
    family = rng.choice(n_families, size=n_files, p=popularity)
    starts = np.searchsorted(variant_family, np.arange(n_families))
    counts = np.bincount(variant_family, minlength=n_families)
    variant = starts[family] + (rng.random(n_files) * counts[family]).astype(np.int64)
    pdq = variant_words[variant]
    # Quality is a property of the picture: a low-quality variant has no usable PDQ in any copy,
    # so its copies link only to each other, by exact hash, and form a cluster of their own.
    variant_ok = np.asarray(rng.random(variant_words.shape[0]) >= low_quality_share)
    pdq_ok = variant_ok[variant]
    true_family = np.where(pdq_ok, family, n_families + variant).astype(np.int64)

    # Exact hashes: each variant has an MD5 and a SHA-1 code (one code space, distinct kinds).
    exact_file = np.concatenate([np.arange(n_files), np.arange(n_files)]).astype(np.int64)
    exact_key = np.concatenate([2 * variant, 2 * variant + 1]).astype(np.int64)

    received = np.sort(rng.integers(START, START + YEAR, size=n_reports))
    seen_at = received[report_of_file] - rng.integers(0, 86_400, size=n_files)
    providers = rng.choice(12, size=n_reports, p=np.r_[0.5, np.full(11, 0.5 / 11)])
    signals = {
        name: (rng.random(n_reports) < rate).astype(np.int64)
        for name, rate in _SIGNAL_RATES.items()
    }
    signals["prior_ct_reports"] = rng.poisson(0.1, size=n_reports).astype(np.int64)
    flags = {name: rng.random(n_files) < rate for name, rate in _FLAG_RATES.items()}
    flags["allow"] &= ~flags["known"]
    assert set(flags) == set(FILE_FLAGS)

    # Subjects and identifiers: account id always, email / screen name sometimes, one IP sighting.
    subject = rng.integers(0, n_subjects, size=n_reports)
    ids = np.arange(n_reports, dtype=np.int64)
    account_key = subject
    email_rows = ids[rng.random(n_reports) < 0.4]
    email_key = n_subjects + subject[email_rows]
    screen_rows = ids[rng.random(n_reports) < 0.3]
    screen_key = 2 * n_subjects + subject[screen_rows]
    # IPs: a subject's address changes every 30 days; a tenth of subjects get, two periods later,
    # an address another subject had (reassigned): at least 30 days apart, so it must not link.
    period = (received - START) // (30 * 86_400)
    periods = int(period.max()) + 1
    partner = rng.permutation(n_subjects)
    reuse = (rng.random(n_subjects) < 0.1)[subject] & (period >= 2)
    owner = np.where(reuse, partner[subject], subject)
    ip_key = 3 * n_subjects + owner * periods + np.where(reuse, period - 2, period)
    report_identifier = np.concatenate([ids, email_rows, screen_rows, ids])
    key = np.concatenate([account_key, email_key, screen_key, ip_key]).astype(np.int64)
    is_ip = np.concatenate(
        [
            np.zeros(n_reports + email_rows.size + screen_rows.size, np.bool_),
            np.ones(n_reports, np.bool_),
        ]
    )
    identifiers = IdentifierTable(
        report=report_identifier,
        key=key,
        is_ip=is_ip,
        seen_at=np.concatenate(
            [received, received[email_rows], received[screen_rows], received]
        ).astype(np.int64),
        kind=np.concatenate(
            [
                np.full(n_reports, ACCOUNT_ID, np.int8),
                np.full(email_rows.size, OTHER, np.int8),
                np.full(screen_rows.size, SCREEN_NAME, np.int8),
                np.full(n_reports, OTHER, np.int8),
            ]
        ),
    )
    reports = ReportTable(
        report_id=np.arange(start_id, start_id + n_reports, dtype=np.int64),
        received_at=received.astype(np.int64),
        provider=providers.astype(np.int64),
        signals=signals,
    )
    files = FileTable(
        file_id=np.arange(start_id, start_id + n_files, dtype=np.int64),
        report=report_of_file,
        position=position.astype(np.int64),
        seen_at=seen_at.astype(np.int64),
        pdq=pdq,
        pdq_ok=pdq_ok,
        exact_file=exact_file,
        exact_key=exact_key,
        flags=flags,
    )
    return SyntheticTriage(reports, files, identifiers, true_family.astype(np.int64), subject)
