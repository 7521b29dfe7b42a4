"""A 64-bit fingerprint per decision, so a run rewrites only the decisions that changed.

A stored decision is its level, score, route, subject, work item and detection, and reasons built
from the policy, the rules fired and the report's facts (counts, and per file its position, the
file facts it shows and, where its evidence names it, its cluster). The subject's report count is
not among them: the reasons refer to the subject for it (``facts.READ_WHEN_SHOWN``), so a subject
that grew changes its earlier reports' decisions only where a rule's outcome moved. The fingerprint
mixes exactly these inputs, vectorised over all reports: equal fingerprints mean the stored row
would be written again unchanged (up to a 2**-64 chance of a collision per changed report), so it
is left as it is, with the run that first decided it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

from safeguarding.triage.facts import READ_WHEN_SHOWN, SHOWS_CLUSTER, ReportFacts
from safeguarding.triage.policy import Policy
from safeguarding.triage.priority import Priorities
from safeguarding.triage.unionfind import IntArray

U64 = npt.NDArray[np.uint64]
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


# The form stored decisions take: 2 since reasons refer to the subject's report count, 3 since
# viral status is a file's own (its evidence names why: a near copy, or spread), 4 since spread is
# counted over a file's direct copies, not its cluster, and its evidence says so. A new form
# changes every fingerprint, so the first run of a new version rewrites every decision once.
DECISION_FORM = 4


def policy_identity(policy: Policy) -> str:
    """What a decision's fingerprint starts from: the policy's label and whole digest, and the
    form decisions are stored in."""
    return f"{policy.label}\x1f{policy.digest}\x1f{DECISION_FORM}"


def _mix(x: U64) -> U64:
    """splitmix64's finaliser: every input bit moves about half the output bits."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    result: U64 = x ^ (x >> np.uint64(31))
    return result


def _chain(columns: list[np.ndarray], seed: U64) -> U64:
    """Mix ``columns`` (equal length) into ``seed`` one after another, order-sensitively."""
    h = seed.copy()
    for k, column in enumerate(columns, start=1):
        value = np.ascontiguousarray(column)
        bits = value.view(np.uint64) if value.dtype == np.float64 else value.astype(np.uint64)
        h = _mix(h ^ _mix(bits + _GOLDEN * np.uint64(k)))
    return h


def _constant(text: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))


def fingerprints(
    policy_identity: str,
    facts: ReportFacts,
    priorities: Priorities,
    subject: IntArray,
    work_item: IntArray,
    detection: IntArray,
    rows: IntArray | None = None,
) -> IntArray:
    """One signed 64-bit fingerprint per report (a column the store keeps as BIGINT), or per
    report at ``rows`` (positions) only: the same values, computed for those alone."""
    n = len(facts)
    at = np.arange(n, dtype=np.int64) if rows is None else rows
    with np.errstate(over="ignore"):
        seed = np.full(at.shape[0], _constant(policy_identity), dtype=np.uint64)
        names = sorted(set(facts.values) - READ_WHEN_SHOWN)
        columns: list[np.ndarray] = [
            priorities.level, priorities.score, priorities.route, priorities.fired,
            subject, work_item, detection, *(facts.values[name] for name in names),
        ]  # fmt: skip
        h = _chain([column[at] for column in columns], seed)
        files = facts.files
        # Each chosen report's files, and the report's place among the chosen.
        place = np.full(n, -1, dtype=np.int64)
        place[at] = np.arange(at.shape[0], dtype=np.int64)
        file_rows = np.flatnonzero(place[files.report] >= 0)
        if files.report.size:  # as for all reports: a report without files mixes in 0
            masks = sorted(facts.file_masks)
            bits = np.zeros(file_rows.size, dtype=np.uint64)
            for k, name in enumerate(masks):
                bits |= facts.file_masks[name][file_rows].astype(np.uint64) << np.uint64(k)
            # Cluster ids show in the reasons only for the file facts that name them.
            shown = np.zeros(file_rows.size, dtype=np.bool_)
            for name in SHOWS_CLUSTER:
                shown |= facts.file_masks[name][file_rows]
            cluster = np.where(shown, facts.file_cluster[file_rows], -1)
            per_file = _chain(
                [files.position[file_rows], bits, cluster], np.full(bits.size, _GOLDEN, np.uint64)
            )
            # A sum is blind to the order of files in the table; positions keep them apart.
            file_sum = np.zeros(at.shape[0], dtype=np.uint64)
            np.add.at(file_sum, place[files.report[file_rows]], per_file)
            h = _mix(h ^ _mix(file_sum + _GOLDEN))
    return h.view(np.int64)
