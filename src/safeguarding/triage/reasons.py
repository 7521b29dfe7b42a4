"""The readable reasons of many decisions at once, as ``priority.Explainer`` gives them one by one.

A run writes tens of thousands of decisions when new reports change their subjects' and
clusters' facts; building each one's reasons in Python (rules fired, then the evidence of every
fact in the report and its files) took longer than the rest of the run. Here the evidence of
every fact is built as text columns for all the reports at once, joined to the rules each report
fired, and only the final lists are assembled per report. The result equals
``Explainer.reasons(i).as_dict()`` for every report (tested against it).

Stored evidence may refer to a subject's report count instead of quoting it
(``{subject:ID:reports}``, ``facts.subject_reference``); ``shown`` puts the count from the
subject's row in its place when a reason is shown, so what a reader sees still names the count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import polars as pl

from safeguarding.triage.facts import (
    FACTS,
    SHOWS_CLUSTER,
    SUBJECT_COUNT,
    VIRAL_EVIDENCE,
    ReportFacts,
)
from safeguarding.triage.policy import Policy
from safeguarding.triage.priority import Priorities, effect
from safeguarding.triage.unionfind import IntArray


class _Evidence:
    """Evidence entries (report, order, text) of each fact for the chosen reports."""

    def __init__(self, facts: ReportFacts, chosen: np.ndarray) -> None:
        self.facts = facts
        files = facts.files
        self.file_rows = np.flatnonzero(chosen[files.report]).astype(np.int64)
        self.reports = np.flatnonzero(chosen).astype(np.int64)
        self.n_files = len(files)
        self._cache: dict[str, pl.DataFrame] = {}

    def _files(self, fact: str, offset: int = 0) -> pl.DataFrame:
        files = self.facts.files
        rows = self.file_rows[self.facts.file_masks[fact][self.file_rows]]
        frame = pl.DataFrame(
            {
                "report": files.report[rows].astype(np.int64),
                "seq": rows + offset,
                "position": files.position[rows].astype(np.int64),
                "cluster": self.facts.file_cluster[rows].astype(np.int64),
            }
        )
        head = pl.lit("file ") + pl.col("position").cast(pl.String)
        field = FACTS[fact].field
        if fact in SHOWS_CLUSTER:  # as ``facts._file_evidence``
            text = head + pl.lit(f": {field} (content cluster ") + pl.col("cluster").cast(pl.String)
            text = text + pl.lit(")")
        elif field:
            text = head + pl.lit(f": {field}")
        else:
            text = head
        return frame.select("report", "seq", text.alias("text"))

    def _reports(self, present: np.ndarray, text: pl.Expr | str) -> pl.DataFrame:
        value = self.facts.values
        rows = self.reports[present[self.reports]]
        frame = pl.DataFrame(
            {"report": rows, "seq": np.zeros(rows.size, np.int64),
             "subject": self.facts.report_subject[rows].astype(np.int64)}
            | {name: value[name][rows] for name in ("files", "subject_prior_reports",
                                                    "prior_ct_reports")}
        )  # fmt: skip
        return frame.select("report", "seq", (pl.lit(text) if isinstance(text, str) else text)
                            .alias("text"))  # fmt: skip

    def of(self, fact: str) -> pl.DataFrame:
        found = self._cache.get(fact)
        if found is None:
            found = self._build(fact)
            self._cache[fact] = found
        return found

    def _build(self, fact: str) -> pl.DataFrame:
        value = self.facts.values[fact]
        spec = FACTS[fact]
        if fact == "all_allow_listed":
            text = pl.lit("all ") + pl.col("files").cast(pl.String)
            return self._reports(value != 0, text + pl.lit(" files match an allow list"))
        if fact == "viral_content":
            batched = self.facts.values["batched_meme"] != 0
            return pl.concat([
                self._reports(batched, FACTS["batched_meme"].field),
                *(self._files(name, 1 + k * self.n_files) for k, name in enumerate(VIRAL_EVIDENCE)),
            ]).sort("report", "seq")  # fmt: skip
        if spec.scope == "file":
            return self._files(fact)
        if fact == "subject_prior_reports":
            text = pl.col(fact).cast(pl.String) + pl.lit(" earlier report(s) about the same user")
            return self._reports(value != 0, text)
        if fact == "subject_reports":  # as ``facts.subject_reference``
            text = pl.lit(SUBJECT_COUNT[0]) + pl.col("subject").cast(pl.String)
            text = text + pl.lit(f"{SUBJECT_COUNT[1]} report(s) about the same user")
            return self._reports(np.ones(value.shape[0], np.bool_), text)
        if fact == "prior_ct_reports":
            text = pl.lit(f"{spec.field}: ") + pl.col(fact).cast(pl.String) + pl.lit(" listed")
            return self._reports(value != 0, text)
        return self._reports(value != 0, spec.field)


def _fired(
    policy: Policy, facts: ReportFacts, priorities: Priorities, rows: IntArray
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """The rules the reports at ``rows`` fired (report, rule) and the evidence entries of those
    rules (report, rule, part, seq, text); None when no rule fired."""
    n = len(facts)
    chosen = np.zeros(n, dtype=np.bool_)
    chosen[rows] = True
    evidence = _Evidence(facts, chosen)
    fired_bits = priorities.fired
    pairs = []
    entries = []
    for k, rule in enumerate(policy.rules):
        fired = chosen & ((fired_bits >> np.uint64(k)) & np.uint64(1)).astype(np.bool_)
        if not fired.any():
            continue
        pairs.append(pl.DataFrame({"report": np.flatnonzero(fired).astype(np.int64), "rule": k}))
        for j, (fact, _minimum) in enumerate(rule.when):
            found = evidence.of(fact)
            keep = fired[found["report"].to_numpy()]
            entries.append(
                found.filter(pl.Series(keep)).with_columns(
                    pl.lit(k, pl.Int64).alias("rule"), pl.lit(j, pl.Int64).alias("part")
                )
            )
    if not pairs:
        return None
    schema = {"report": pl.Int64, "seq": pl.Int64, "text": pl.String, "rule": pl.Int64}
    texts = pl.concat(entries) if entries else pl.DataFrame(schema=schema | {"part": pl.Int64})
    return pl.concat(pairs).with_columns(pl.col("rule").cast(pl.Int64)), texts


def reasons_of(
    policy: Policy, facts: ReportFacts, priorities: Priorities, rows: IntArray
) -> list[list[dict[str, Any]]]:
    """The reasons (as stored: ``Reason.as_dict``) of the reports at ``rows`` (positions)."""
    result: list[list[dict[str, Any]]] = [[] for _ in range(rows.shape[0])]
    fired = _fired(policy, facts, priorities, rows)
    if fired is None:
        return result
    pairs, entries = fired
    texts = (
        entries.sort("report", "rule", "part", "seq")
        .group_by("report", "rule", maintain_order=True)
        .agg(pl.col("text"))
    )
    grouped = (
        pairs.join(texts, on=["report", "rule"], how="left")
        .sort("report", "rule")
        .group_by("report", maintain_order=True)
        .agg(pl.col("rule"), pl.col("text"))
    )
    templates = [
        (rule.id, rule.description, rule.weight, effect(policy, k))
        for k, rule in enumerate(policy.rules)
    ]
    where = {int(r): i for i, r in enumerate(rows.tolist())}
    for report, rules, texts_of in grouped.iter_rows():
        result[where[report]] = [
            {
                "rule": templates[k][0],
                "description": templates[k][1],
                "weight": templates[k][2],
                "effect": templates[k][3],
                "evidence": found if found is not None else [],  # a fresh list per row
            }
            for k, found in zip(rules, texts_of, strict=True)
        ]
    return result


def _quoted(text: pl.Expr) -> pl.Expr:
    """A JSON string literal of ``text`` (evidence is built from field names and numbers: only
    backslashes and quotes need escaping)."""
    escaped = text.str.replace_all("\\", "\\\\", literal=True).str.replace_all(
        '"', '\\"', literal=True
    )
    return pl.lit('"') + escaped + pl.lit('"')


def reasons_json(
    policy: Policy, facts: ReportFacts, priorities: Priorities, rows: IntArray
) -> list[str]:
    """``reasons_of`` as the JSON text the store keeps (what ``json.dumps`` makes of each list),
    built as columns: a run writes tens of thousands of decisions, and building their reasons as
    dictionaries and serialising them one by one took most of the time spent writing them."""
    empty = "[]"
    fired = _fired(policy, facts, priorities, rows)
    if fired is None:
        return [empty] * rows.shape[0]
    pairs, entries = fired
    texts = (
        entries.sort("report", "rule", "part", "seq")
        .group_by("report", "rule", maintain_order=True)
        .agg(_quoted(pl.col("text")).str.join(", ").alias("evidence"))
    )
    # Each rule's fixed part, serialised once; the evidence list closes the object.
    heads = [
        json.dumps(
            {"rule": rule.id, "description": rule.description, "weight": rule.weight,
             "effect": effect(policy, k), "evidence": None}
        )[: -len("null}")]
        for k, rule in enumerate(policy.rules)
    ]  # fmt: skip
    objects = (
        pairs.join(texts, on=["report", "rule"], how="left")
        .sort("report", "rule")
        .select(
            "report",
            (
                pl.col("rule").replace_strict(
                    list(range(len(heads))), heads, return_dtype=pl.String
                )
                + pl.lit("[")
                + pl.col("evidence").fill_null("")
                + pl.lit("]}")
            ).alias("reason"),
        )
        .group_by("report", maintain_order=True)
        .agg((pl.lit("[") + pl.col("reason").str.join(", ") + pl.lit("]")).alias("reasons"))
    )
    result = pl.DataFrame({"report": rows.astype(np.int64)}).join(
        objects, on="report", how="left", maintain_order="left"
    )
    return result["reasons"].fill_null(empty).to_list()


_SUBJECT_REPORTS = re.compile(
    re.escape(SUBJECT_COUNT[0]) + r"(-?\d+)" + re.escape(SUBJECT_COUNT[1])
)


def subjects_referred(reasons: Iterable[Mapping[str, Any]]) -> set[int]:
    """The subjects whose report count the stored ``reasons`` refer to."""
    return {
        int(found)
        for reason in reasons
        for text in reason.get("evidence", [])
        for found in _SUBJECT_REPORTS.findall(str(text))
    }


def shown(
    reasons: Iterable[Mapping[str, Any]], subject_reports: Mapping[int, int]
) -> list[dict[str, Any]]:
    """Stored reasons as shown: each reference to a subject's report count replaced by the
    count in ``subject_reports`` (subject id -> reports; "?" for a subject not there)."""

    def count(match: re.Match[str]) -> str:
        return str(subject_reports.get(int(match.group(1)), "?"))

    return [
        {**reason, "evidence": [_SUBJECT_REPORTS.sub(count, str(text))
                                for text in reason.get("evidence", [])]}
        for reason in reasons
    ]  # fmt: skip
