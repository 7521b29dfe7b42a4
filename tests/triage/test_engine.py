from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from safeguarding.triage.cluster_content import ContentIndex, ContentSettings
from safeguarding.triage.cluster_subjects import SubjectIndex, SubjectSettings
from safeguarding.triage.engine import Previous, run
from safeguarding.triage.policy import load_policy
from safeguarding.triage.reasons import reasons_of
from safeguarding.triage.synthetic import generate
from safeguarding.triage.tables import UNASSIGNED, take_files, take_reports
from tests.triage.helpers import chained, files, no_identifiers, reports


@pytest.mark.parametrize("kept_state", [False, True])
def test_an_incremental_pass_gives_what_a_full_pass_gives(kept_state: bool) -> None:
    data = generate(n_reports=1500, n_families=100, seed=17)
    args = (load_policy(), ContentSettings(viral_min_reports=30), SubjectSettings())
    full = run(
        data.reports, data.files, data.identifiers, Previous.none(1500, len(data.files)), *args
    )
    assert full.mode == "full"
    # an earlier pass saw the first 1200 reports only
    reports, identifiers = take_reports(data.reports, data.identifiers, np.arange(1200))
    old_rows = np.flatnonzero(data.files.report < 1200)
    files = take_files(data.files, old_rows)
    earlier = run(reports, files, identifiers, Previous.none(1200, len(files)), *args)
    new_files = len(data.files) - len(files)
    previous = Previous(
        file_cluster=np.r_[earlier.file_cluster, np.full(new_files, UNASSIGNED)],
        report_subject=np.r_[earlier.report_subject, np.full(300, UNASSIGNED)],
        level=np.r_[earlier.priorities.level.astype(np.int64), np.zeros(300, np.int64)],
    )
    state = (
        (
            ContentIndex.build(files, earlier.file_cluster),
            SubjectIndex.build(identifiers, earlier.report_subject),
            (earlier.content_summary, earlier.subject_summary),
        )
        if kept_state
        else (None, None, None)
    )
    again = run(data.reports, data.files, data.identifiers, previous, *args, *state)
    assert again.mode == "incremental"
    assert again.new_reports == 300 and again.new_files == new_files
    assert np.array_equal(again.file_cluster, full.file_cluster)
    assert np.array_equal(again.report_subject, full.report_subject)
    assert_frame_equal(again.content_summary, full.content_summary, check_dtypes=False)
    assert_frame_equal(again.subject_summary, full.subject_summary, check_dtypes=False)
    assert np.array_equal(again.priorities.level, full.priorities.level)
    assert np.array_equal(again.work_item, full.work_item)
    assert np.array_equal(again.flagged, full.flagged)
    assert np.array_equal(again.spread, full.spread)
    assert again.changes["compared"] == 1200


def _as_mapping(index: ContentIndex | SubjectIndex) -> dict[str, object]:
    """An index as what it says (key → cluster or subject, and for content how many reports hold
    the key), whatever the order of its rows."""
    if isinstance(index, ContentIndex):
        exact = zip(index.exact_cluster.tolist(), index.exact_reports.tolist(), strict=True)
        pdq = zip(index.pdq_cluster.tolist(), index.pdq_reports.tolist(), strict=True)
        return {
            "exact": dict(zip(index.exact_key.tolist(), exact, strict=True)),
            "pdq": sorted(zip(map(tuple, index.pdq.tolist()), pdq, strict=True)),
        }
    return {
        "plain": dict(zip(index.key.tolist(), index.key_subject.tolist(), strict=True)),
        "ip": sorted(
            zip(index.ip_key.tolist(), index.ip_seen_at.tolist(), index.ip_subject.tolist(),
                strict=True)
        ),
    }  # fmt: skip


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cuts=st.lists(st.integers(1, 299), min_size=1, max_size=3, unique=True),
    relisted=st.integers(0, 40),
    viral_min=st.sampled_from([8, 1000]),
    chain=st.booleans(),
)
def test_chained_passes_with_kept_indexes_equal_one_full_pass(
    seed: int, cuts: list[int], relisted: int, viral_min: int, chain: bool
) -> None:
    """Passes over growing prefixes, each starting from the indexes, summaries and results the
    last one left (with list matches of some earlier files changing between passes), end where
    one pass over everything ends, indexes included. With near-duplicate chains, a file of a
    cluster in many reports is viral by spread or not by its own copies, and a later pass that
    brings a file's copies to ``viral_min_reports`` reports decides its reports again."""
    data = generate(n_reports=300, n_families=12, n_subjects=60, seed=seed)
    if chain:
        data = chained(data, seed)
    # With 1000, no cluster is viral by spread: only flags and their copies make files viral.
    args = (load_policy(), ContentSettings(viral_min_reports=viral_min), SubjectSettings())
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(data.files), size=relisted, replace=False)
    known = data.files.flag("known").copy()
    known[flipped] = ~known[flipped]
    files_now = dataclasses.replace(data.files, flags={**data.files.flags, "known": known})
    full = run(data.reports, files_now, data.identifiers, Previous.none(300, len(data.files)),
               *args)  # fmt: skip
    kept = None
    for end in [*sorted(cuts), 300]:
        reports, identifiers = take_reports(data.reports, data.identifiers, np.arange(end))
        rows = np.flatnonzero(data.files.report < end)
        last = end == 300
        files = take_files(files_now if last else data.files, rows)
        if kept is None:
            result = run(reports, files, identifiers, Previous.none(end, len(files)), *args)
        else:
            n_files, n_reports = len(kept.file_cluster), len(kept.report_subject)
            previous = Previous(
                np.r_[kept.file_cluster, np.full(len(files) - n_files, UNASSIGNED)],
                np.r_[kept.report_subject, np.full(end - n_reports, UNASSIGNED)],
                np.r_[kept.priorities.level.astype(np.int64), np.zeros(end - n_reports, np.int64)],
                flagged=np.r_[kept.flagged, np.zeros(len(files) - n_files, np.bool_)],
                spread=np.r_[kept.spread, np.zeros(len(files) - n_files, np.bool_)],
            )
            changed = flipped[flipped < n_files] if last else np.zeros(0, np.int64)
            result = run(
                reports, files, identifiers, previous, *args, kept.content_index,
                kept.subject_index, (kept.content_summary, kept.subject_summary),
                changed_files=np.sort(changed).astype(np.int64),
            )  # fmt: skip
            assert result.mode == "incremental"
        kept = result
    assert kept is not None
    assert np.array_equal(kept.file_cluster, full.file_cluster)
    assert np.array_equal(kept.report_subject, full.report_subject)
    assert_frame_equal(kept.content_summary, full.content_summary, check_dtypes=False)
    assert_frame_equal(kept.subject_summary, full.subject_summary, check_dtypes=False)
    assert np.array_equal(kept.priorities.level, full.priorities.level)
    assert np.array_equal(kept.work_item, full.work_item)
    assert np.array_equal(kept.flagged, full.flagged)
    assert np.array_equal(kept.spread, full.spread)
    assert _as_mapping(kept.content_index) == _as_mapping(full.content_index)
    assert _as_mapping(kept.subject_index) == _as_mapping(full.subject_index)


def _flipped(words: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """``words`` (one PDQ hash) with ``bits`` flipped."""
    out = words.copy()
    for bit in bits:
        out[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return out


def test_spread_reaches_a_file_and_its_direct_copies_not_material_chained_to_them() -> None:
    """A meme M seen in 60 reports, a picture X 28 bits from it in one report, and new material
    N 56 bits from M but 28 from X in one more: one chained cluster seen in 62 reports. M's
    copies and X (a direct copy of M) are viral by spread; N is in two reports with its direct
    copies (X's and its own), so it is new material, not viral."""
    rng = np.random.default_rng(12)
    meme = rng.integers(0, 2**64, size=4, dtype=np.uint64)
    bits = rng.choice(256, size=56, replace=False)
    between, new = _flipped(meme, bits[:28]), _flipped(meme, bits)
    words = np.stack([*[meme] * 60, between, new])
    file_table = dataclasses.replace(
        files(list(range(62))), pdq=words, exact_key=np.r_[np.full(60, 7), 8, 9]
    )
    policy = load_policy()
    result = run(
        reports(62), file_table, no_identifiers(), Previous.none(62, 62), policy,
        ContentSettings(), SubjectSettings(),
    )  # fmt: skip
    assert len(set(result.file_cluster.tolist())) == 1
    value = result.facts.value
    assert value("spread_files").tolist() == [1] * 61 + [0]
    assert value("viral_files")[61] == 0 and value("new_files")[61] == 1
    rules = [{r["rule"] for r in found} for found in reasons_of(
        policy, result.facts, result.priorities, np.arange(62, dtype=np.int64)
    )]  # fmt: skip
    assert "new_material" in rules[61] and "viral" not in rules[61]
    assert all("viral" in fired and "new_material" not in fired for fired in rules[:61])


def test_new_pictures_joined_only_through_a_memes_variants_are_separate_work_items() -> None:
    """A flagged meme M, two variants 28 bits from it, and two new pictures each 28 bits from
    one variant (112 bits apart): one chained cluster, so the two new pictures' reports were one
    work item. Work items join through direct copies of new material only: five items. A direct
    copy of new material in another report still joins it."""
    rng = np.random.default_rng(3)
    meme = rng.integers(0, 2**64, size=4, dtype=np.uint64)
    bits = rng.permutation(256)
    first, second = _flipped(meme, bits[0:28]), _flipped(meme, bits[28:56])
    one, other = _flipped(first, bits[56:84]), _flipped(second, bits[84:112])
    words = np.stack([meme, first, second, one, other, _flipped(one, bits[112:120])])
    file_table = dataclasses.replace(
        files(list(range(6)), potential_meme=[True, False, False, False, False, False]),
        pdq=words,
    )
    result = run(
        reports(6), file_table, no_identifiers(), Previous.none(6, 6), load_policy(),
        ContentSettings(), SubjectSettings(),
    )  # fmt: skip
    assert len(set(result.file_cluster.tolist())) == 1
    assert result.flagged.tolist() == [True, True, True, False, False, False]
    assert result.work_item.tolist() == [1, 2, 3, 4, 5, 4]
