"""Reasons built for many reports at once equal those built one report at a time."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.triage.cluster_content import ContentSettings
from safeguarding.triage.cluster_subjects import SubjectSettings
from safeguarding.triage.engine import Previous, TriageResult, run
from safeguarding.triage.policy import load_policy
from safeguarding.triage.priority import Explainer
from safeguarding.triage.reasons import reasons_json, reasons_of
from safeguarding.triage.synthetic import generate


def _scored(
    reports: int, families: int, seed: int, content: ContentSettings, subjects: int | None = None
) -> TriageResult:
    """A run from scratch over generated reports under the shipped policy."""
    data = generate(n_reports=reports, n_families=families, n_subjects=subjects, seed=seed)
    return run(
        data.reports, data.files, data.identifiers, Previous.none(reports, len(data.files)),
        load_policy(), content, SubjectSettings(),
    )  # fmt: skip


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), share=st.floats(0.05, 1.0))
def test_reasons_of_many_reports_equal_the_explainers(seed: int, share: float) -> None:
    policy = load_policy()
    result = _scored(400, 15, seed, ContentSettings(viral_min_reports=6), subjects=80)
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(rng.random(400) < share).astype(np.int64)
    explainer = Explainer(policy, result.facts, result.priorities)
    expected = [[reason.as_dict() for reason in explainer.reasons(int(i))] for i in rows]
    assert reasons_of(policy, result.facts, result.priorities, rows) == expected
    # The stored form is exactly what serialising each list gives.
    texts_stored = reasons_json(policy, result.facts, result.priorities, rows)
    assert texts_stored == [json.dumps(reasons) for reasons in expected]


@pytest.mark.parametrize(
    ("viral_min_reports", "kind"),
    [(6, "in many reports with its near copies (content cluster "), (10**6, "near copy of a file")],
)
def test_every_kind_of_evidence_is_built_as_the_explainer_builds_it(
    viral_min_reports: int, kind: str
) -> None:
    policy = load_policy()
    result = _scored(400, 15, 3, ContentSettings(viral_min_reports=viral_min_reports), 80)
    rows = np.arange(400, dtype=np.int64)
    explainer = Explainer(policy, result.facts, result.priorities)
    expected = [[reason.as_dict() for reason in explainer.reasons(int(i))] for i in rows]
    assert reasons_of(policy, result.facts, result.priorities, rows) == expected
    texts = {e for reasons in expected for reason in reasons for e in reason["evidence"]}
    assert any(kind in t for t in texts) and any("same user" in t for t in texts)


def test_no_reports_no_reasons() -> None:
    policy = load_policy()
    result = _scored(20, 3, 1, ContentSettings())
    empty = np.zeros(0, dtype=np.int64)
    assert reasons_of(policy, result.facts, result.priorities, empty) == []
    assert reasons_json(policy, result.facts, result.priorities, empty) == []


def test_policy_text_with_quotes_and_backslashes_stays_valid_json() -> None:
    policy = load_policy()
    result = _scored(60, 4, 3, ContentSettings())
    rows = np.arange(60, dtype=np.int64)
    # Descriptions are the policy author's text: quotes, backslashes and accents survive.
    rules = [
        dataclasses.replace(rule, description=f'say "{rule.id}" \\ caf\u00e9')
        for rule in policy.rules
    ]
    tricky = dataclasses.replace(policy, rules=tuple(rules))
    expected = reasons_of(tricky, result.facts, result.priorities, rows)
    stored = reasons_json(tricky, result.facts, result.priorities, rows)
    assert [json.loads(text) for text in stored] == expected
