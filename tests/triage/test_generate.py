"""The generator: deterministic, and its ground truth holds (variants near, families apart)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pdqhash

from safeguarding.hashing.pdq_bits import bits_to_hex, hex_distance
from safeguarding.triage.generate import (
    GeneratorConfig,
    benign_image,
    generate,
    image_variant,
    known_list,
    vics_json,
)


def _pdq(image: object) -> tuple[str, int]:
    bits, quality = pdqhash.compute(np.asarray(image))
    return bits_to_hex(bits), int(quality)


def test_same_seed_same_output_other_seed_other_output() -> None:
    config = GeneratorConfig(seed=12, reports=15)
    first, second = generate(config), generate(config)
    assert list(first.documents()) == list(second.documents())
    assert vics_json(known_list(first, families=3, seed=1, extra=4)) == vics_json(
        known_list(second, families=3, seed=1, extra=4)
    )
    other = generate(GeneratorConfig(seed=13, reports=15))
    assert list(other.documents()) != list(first.documents())


def test_file_hashes_stay_within_variant_bits_of_their_family() -> None:
    corpus = generate(GeneratorConfig(seed=1, reports=200, families=20, variant_max_bits=31))
    for report in corpus.reports:
        for file in report.files:
            assert hex_distance(file.pdq, corpus.family_pdq[file.family]) <= 31
    bases = corpus.family_pdq
    apart = [hex_distance(a, b) for i, a in enumerate(bases) for b in bases[i + 1 :]]
    assert min(apart) > 64


def test_own_content_belongs_to_one_subject_and_leaves_circulating_files_as_they_were() -> None:
    config = GeneratorConfig(seed=3, reports=300, families=20, subjects=40)
    shared = generate(config)
    mixed = generate(dataclasses.replace(config, own_content_share=0.5))
    assert len(mixed.family_pdq) == config.families + config.subjects
    owners: dict[int, set[int]] = {}
    own = 0
    for before, after in zip(shared.reports, mixed.reports, strict=True):
        assert after.subject == before.subject
        for old, new in zip(before.files, after.files, strict=True):
            assert hex_distance(new.pdq, mixed.family_pdq[new.family]) <= config.variant_max_bits
            if new.family < config.families:  # circulating: the same file as without the option
                assert new == old
            else:
                own += 1
                assert new.family == config.families + after.subject
                owners.setdefault(new.family, set()).add(after.subject)
    assert all(len(subjects) == 1 for subjects in owners.values())
    assert 0.4 < own / (len(mixed.reports) * config.files_per_report) < 0.6


def test_image_variants_are_near_duplicates_and_other_images_are_not() -> None:
    originals = [_pdq(benign_image(seed)) for seed in range(6)]
    assert all(quality >= 50 for _, quality in originals)
    for seed, (original, _) in enumerate(originals):
        variant, quality = _pdq(image_variant(benign_image(seed), seed + 100))
        assert quality >= 50 and hex_distance(original, variant) <= 31
    for i, (a, _) in enumerate(originals):
        for b, _ in originals[i + 1 :]:
            assert hex_distance(a, b) > 31
