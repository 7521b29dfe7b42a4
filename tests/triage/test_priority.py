from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path
from random import Random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.errors import ValidationError
from safeguarding.store.models import PriorityDecision, TriageRun
from safeguarding.triage.cluster_content import ViralFiles, flagged
from safeguarding.triage.facts import compute_facts
from safeguarding.triage.policy import (
    LABEL_MAX,
    LEVEL_CODE,
    Policy,
    Rule,
    default_policy_text,
    load_policy,
    parse_policy,
)
from safeguarding.triage.priority import Explainer, level_changes, score_reports
from safeguarding.triage.tables import FILE_FLAGS, REPORT_SIGNALS
from tests.triage.helpers import files, reports

POLICY = load_policy()


def facts_for(report_table, file_table):  # type: ignore[no-untyped-def]
    """Facts of hand-built tables whose files are all different pictures: each file is viral
    only by its own flag."""
    n = len(report_table)
    viral = ViralFiles(flagged(file_table, report_table), np.zeros(len(file_table), np.bool_))
    return compute_facts(
        report_table,
        file_table,
        file_table.file_id,
        viral,
        report_table.report_id,
        np.zeros(n, dtype=np.int64),
    )


def test_each_reason_names_its_rule_and_the_evidence_in_the_report() -> None:
    table = reports(2, escalate=[1, 0], sextortion=[0, 1])
    file_table = files(
        [0, 0, 0, 1], infant=[False, False, True, False], known=[True, True, True, True]
    )
    facts = facts_for(table, file_table)
    priorities = score_reports(POLICY, facts)
    explain = Explainer(POLICY, facts, priorities)
    first = {r.rule: r.evidence for r in explain.reasons(0)}
    assert first["escalation"] == ("incidentSummary.escalateToHighPriority present",)
    assert first["infant"] == ("file 3: fileAnnotations.infant",)
    assert "new_material" not in first  # every file matched a known list
    assert priorities.level_name(0) == "P1"
    second = {r.rule: r.evidence for r in explain.reasons(1)}
    assert second["sextortion"] == ("reportAnnotations.sextortion",)
    assert set(second) == {"sextortion", "reported_material"}
    # the score is exactly the sum of the weights of the reasons given
    for report in (0, 1):
        total = sum(r.weight for r in explain.reasons(report))
        assert priorities.score[report] == pytest.approx(total)


def test_viral_and_allow_listed_content_lowers_and_floors_win_over_caps() -> None:
    table = reports(3, batched_meme=[1, 1, 0], escalate=[0, 1, 0])
    file_table = files([0, 1, 2], allow=[False, False, True])
    priorities = score_reports(POLICY, facts_for(table, file_table))
    assert priorities.level_name(0) == "P3"  # new material capped by the meme rule
    assert priorities.level_name(1) == "P1"  # escalation floor beats the cap
    assert priorities.level_name(2) == "informational"  # only allow-listed content


def test_viral_files_are_not_new_material() -> None:
    """A meme on no list is widely shared, not material that may show new victims: beside a
    known file it raises nothing, while a file on no list and not viral does."""
    table = reports(2)
    file_table = files([0, 0, 1], known=[True, False, False], potential_meme=[False, True, False])
    facts = facts_for(table, file_table)
    priorities = score_reports(POLICY, facts)
    explain = Explainer(POLICY, facts, priorities)
    first = {r.rule: r.evidence for r in explain.reasons(0)}
    second = {r.rule: r.evidence for r in explain.reasons(1)}
    assert facts.value("unknown_files").tolist() == [1, 1]
    assert facts.value("new_files").tolist() == [0, 1]
    assert "new_material" not in first and "viral" not in first  # one file is known
    assert second["new_material"] == ("file 1: no match on any list, not viral",)
    assert priorities.score[1] - priorities.score[0] == pytest.approx(30)


def test_minor_to_minor_and_self_generated_by_minors_go_to_youth_care() -> None:
    table = reports(3, minor_to_minor=[1, 0, 0], reported_user_minor=[0, 1, 0])
    file_table = files([0, 1, 2], possible_self_production=[False, True, True])
    priorities = score_reports(POLICY, facts_for(table, file_table))
    assert [priorities.route_name(i) for i in range(3)] == ["youth_care", "youth_care", "offender"]


report_cases = st.fixed_dictionaries({name: st.integers(0, 3) for name in REPORT_SIGNALS}).flatmap(
    lambda signals: st.tuples(
        st.just(signals),
        st.lists(st.fixed_dictionaries({f: st.booleans() for f in FILE_FLAGS}), max_size=4),
        st.sampled_from([r for r in POLICY.rules if r.aggravating]),
    )
)


@given(report_cases)
@settings(max_examples=150, deadline=None)
def test_adding_an_aggravating_signal_never_lowers_score_or_level(case) -> None:  # type: ignore[no-untyped-def]
    signals, file_flags, rule = case
    before_files = (
        files([0] * len(file_flags), **{f: [d[f] for d in file_flags] for f in FILE_FLAGS})
        if file_flags
        else files([])
    )
    before_reports = reports(1, **{k: [v] for k, v in signals.items()})
    before = score_reports(POLICY, facts_for(before_reports, before_files))
    # add the signals the aggravating rule tests for: report signals go up, file flags get a file
    raised = dict(signals)
    extra_flags: dict[str, bool] = {}
    for fact, minimum in rule.when:
        if fact in REPORT_SIGNALS:
            raised[fact] = max(raised[fact], minimum)
        else:
            flag = {
                "files": None, "unknown_files": None, "new_files": None, "infant_files": "infant",
                "live_streaming_files": "live_streaming", "physical_harm_files": "physical_harm",
                "sex_act_files": "sex_act_a1_b1",
                "self_production_files": "possible_self_production",
            }.get(fact)  # fmt: skip
            if flag:
                extra_flags[flag] = True
    added = [*file_flags, {f: extra_flags.get(f, False) for f in FILE_FLAGS}]
    after_files = files([0] * len(added), **{f: [d[f] for d in added] for f in FILE_FLAGS})
    after = score_reports(
        POLICY, facts_for(reports(1, **{k: [v] for k, v in raised.items()}), after_files)
    )
    assert after.score[0] >= before.score[0]
    assert after.level[0] <= before.level[0]  # lower code = more urgent


def test_a_policy_change_relevels_as_expected(tmp_path: Path) -> None:
    table = reports(4, sextortion=[1, 0, 0, 0], enticement=[0, 1, 0, 0])
    file_table = files([2, 3])
    facts = facts_for(table, file_table)
    before = score_reports(POLICY, facts)
    text = default_policy_text().decode()
    # raise sextortion to P1: exactly report 0 moves, up
    changed = text.replace('weight = 55\nat_least = "P2"', 'weight = 55\nat_least = "P1"').replace(
        'version = "2026.11-3"', 'version = "2026.11-4"'
    )
    assert changed != text
    path = tmp_path / "policy.toml"
    path.write_text(changed)
    policy = load_policy(path)
    after = score_reports(policy, facts)
    assert policy.label != POLICY.label
    assert after.level.tolist() == [LEVEL_CODE["P1"], *before.level.tolist()[1:]]
    assert level_changes(before.level.astype(np.int64), after.level.astype(np.int64)) == {
        "compared": 4, "changed": 1, "raised": 1, "lowered": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("when = { escalate = 1 }", "when = { escalation = 1 }"), "unknown fact 'escalation'"),
        (("weight = 120", 'weight = "high"'), "weight must be a finite number"),
        # TOML writes nan and inf: a NaN score cannot be stored and compares false everywhere.
        (("weight = 120", "weight = nan"), "weight must be a finite number"),
        (("weight = 120", "weight = inf"), "weight must be a finite number"),
        (("P1 = 120", "P1 = inf"), "P1 must be a finite number"),
        (('at_least = "P1"', 'at_least = ["P1"]'), "level must be one of"),
        (('evidence = "kirat.validation"', 'evidence = ["kirat.validation"]'), "one evidence id"),
        (("P2 = 60", "P2 = 130"), "thresholds must fall"),
        (('evidence = "kirat.validation"', 'evidence = "no.such"'), "not in the evidence base"),
        (("weight = -60", "weight = 30"), "either raises"),
        (('id = "infant"', 'id = "escalation"'), "unique"),
        # runs and decisions store its label in 160 characters: PostgreSQL refused it mid-run
        (('version = "2026.11-3"', f'version = "{"9" * 140}"'), "at most 146 characters"),
    ],
)
def test_bad_policies_are_refused_naming_the_rule(edit: tuple[str, str], message: str) -> None:
    text = default_policy_text().decode().replace(*edit, 1)
    with pytest.raises(ValidationError, match=message) as info:
        parse_policy(text.encode(), "edited.toml")
    assert str(info.value).startswith("edited.toml")


def test_a_refused_rule_is_named_with_the_line_it_is_written_on() -> None:
    text = default_policy_text().decode()
    edited = text.replace("weight = 120", "weight = nan", 1)
    header = text.splitlines().index("[[rule]]") + 1
    with pytest.raises(ValidationError) as info:
        parse_policy(edited.encode(), "edited.toml")
    assert str(info.value) == (
        f"edited.toml:{header}: rule 'escalation': weight must be a finite number"
    )


# The line of the first rule's ``[[rule]]`` header in the shipped policy.
FIRST_RULE = default_policy_text().decode().splitlines().index("[[rule]]") + 1


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (('name = "default"', 'name = "nul\\u0000policy"'), "[policy]: name"),
        (('version = "2026.11-3"', 'version = "2026.11\\u0000"'), "[policy]: version"),
        (('description = "Ongoing', 'description = "\\u0000Ongoing'), "[policy]: description"),
        (('id = "escalation"', 'id = "escalation\\u0000"'), f"{FIRST_RULE}: rule 1: id"),
        (('description = "The provider', 'description = "\\u0000The provider'),
         f"{FIRST_RULE}: rule 'escalation': description"),
        (('source = "NCMEC CyberTipline', 'source = "\\u0000NCMEC CyberTipline'),
         f"{FIRST_RULE}: rule 'escalation': source"),
    ],
)  # fmt: skip
def test_a_nul_in_any_text_of_a_policy_is_refused_naming_the_key(
    edit: tuple[str, str], where: str
) -> None:
    """Runs and decisions store the policy's texts, and PostgreSQL refuses a NUL in text that
    SQLite keeps: the run failed half-way on one backend only. TOML writes it as ``\\u0000``."""
    text = default_policy_text().decode()
    edited = text.replace(*edit, 1)
    assert edited != text
    with pytest.raises(ValidationError) as info:
        parse_policy(edited.encode(), "edited.toml")
    separator = " " if where.startswith("[policy]") else ""
    assert str(info.value) == (
        f"edited.toml:{separator}{where} must not contain a NUL character (\\x00)"
    )


def test_the_policy_label_fits_the_columns_that_store_it() -> None:
    for column in (TriageRun.__table__.c.policy, PriorityDecision.__table__.c.policy):
        assert column.type.length == LABEL_MAX  # type: ignore[attr-defined]
    longest = (
        default_policy_text()
        .decode()
        .replace('version = "2026.11-3"', f'version = "{"9" * 139}"', 1)
    )
    assert len(parse_policy(longest.encode(), "edited.toml").label) == LABEL_MAX


def _policy(rules: tuple[Rule, ...], thresholds: tuple[float, float, float]) -> Policy:
    levels = tuple(zip(("P1", "P2", "P3"), thresholds, strict=True))
    return dataclasses.replace(POLICY, rules=rules, thresholds=levels)


def test_youth_care_wins_whichever_order_the_rules_are_in() -> None:
    """The last rule that fired set the route: with an escalation routed to the offender queue
    listed after minor-to-minor, a report with both went to the offender queue."""
    offender = Rule("escalation", "esc", (("escalate", 1),), 120.0, "x", "P1", route="offender")
    youth = Rule("minor_to_minor", "m2m", (("minor_to_minor", 1),), 0.0, "x", route="youth_care")
    table = reports(3, escalate=[1, 1, 0], minor_to_minor=[1, 0, 1])
    facts = facts_for(table, files([0, 1, 2]))
    for rules in ((offender, youth), (youth, offender)):
        priorities = score_reports(_policy(rules, (120, 60, 20)), facts)
        routes = [priorities.route_name(i) for i in range(3)]
        assert routes == ["youth_care", "offender", "youth_care"]


def test_weights_that_add_up_to_a_threshold_reach_it() -> None:
    """0.7 + 0.1 is 0.7999999999999999 in binary fractions: a threshold of 0.8 was missed."""
    rules = tuple(
        Rule(f"r{i}", "w", ((signal, 1),), weight, "x")
        for i, (signal, weight) in enumerate((("escalate", 0.7), ("sextortion", 0.1)))
    )
    table = reports(1, escalate=[1], sextortion=[1])
    priorities = score_reports(_policy(rules, (0.8, 0.5, 0.2)), facts_for(table, files([0])))
    assert priorities.score.tolist() == [0.8]
    assert priorities.level_name(0) == "P1"


decimal_weights = st.lists(st.integers(0, 100_000), min_size=1, max_size=8)


@given(decimal_weights, st.randoms(use_true_random=False))
@settings(max_examples=200, deadline=None)
def test_a_score_is_the_exact_sum_of_its_weights_in_any_order(
    thousandths: list[int], random: Random
) -> None:
    """Weights written with three decimals: the score is their exact decimal sum (as the
    threshold it is compared with would be written), whatever the order of the rules, and a
    threshold at that sum is reached."""
    signals = list(REPORT_SIGNALS)[: len(thousandths)]
    rules = [
        Rule(f"r{i}", "w", ((signal, 1),), value / 1000, "x")
        for i, (signal, value) in enumerate(zip(signals, thousandths, strict=True))
    ]
    random.shuffle(rules)
    exact = float(sum(Fraction(value, 1000) for value in thousandths))
    table = reports(1, **{signal: [1] for signal in signals})
    thresholds = (exact, exact / 2, exact / 4) if exact else (3.0, 2.0, 1.0)
    priorities = score_reports(_policy(tuple(rules), thresholds), facts_for(table, files([0])))
    assert priorities.score.tolist() == [exact]
    if exact:
        assert priorities.level_name(0) == "P1"
