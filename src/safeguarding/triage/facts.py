"""Report facts: the numbers a priority policy's rules test, with where each came from.

Every fact is a count per report (0 = absent). Facts come from the report itself (a provider's
escalation request, annotations, the incident type), from its files (annotations, classification,
matches against known and allow lists, viral status: ``cluster_content.ViralFiles``) or from its
subject (earlier reports about the same user). A report counts as viral content when it was
batched as viral or when every file of it is viral, as it counts as allow-listed only when every
file is: one meme beside new material must not lower the new material.

Each fact knows how to point at its evidence in one report, so a priority reason reads "file 3:
fileAnnotations.infant" rather than a bare rule name.

A subject's size grows with every report about the same user, while the decisions of its earlier
reports need not change: their evidence refers to the subject by its id (``subject_reference``)
and the count is read from the subject's row when a reason is shown (``reasons.shown``), so a
decision is not rewritten only because its subject grew.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from safeguarding.triage.cluster_content import ViralFiles
from safeguarding.triage.tables import FileTable, ReportTable
from safeguarding.triage.unionfind import IntArray

Scope = Literal["report", "file", "subject"]


@dataclass(frozen=True)
class FactSpec:
    """A fact policies may use: its scope and the field it stands for in a report."""

    name: str
    scope: Scope
    field: str
    description: str


_REPORT = [
    ("escalate", "incidentSummary.escalateToHighPriority present", "provider asked to escalate"),
    ("enticement", "incidentType Online Enticement of Children", "online enticement"),
    ("sextortion", "reportAnnotations.sextortion", "sextortion"),
    ("csam_solicitation", "reportAnnotations.csamSolicitation", "solicitation of material"),
    (
        "sadistic_exploitation",
        "reportAnnotations.sadisticOnlineExploitation",
        "sadistic online exploitation",
    ),
    ("minor_to_minor", "reportAnnotations.minorToMinorInteraction", "minor-to-minor interaction"),
    ("informational", "reportAnnotations.informational", "provider marked it informational"),
    ("batched_meme", "batchedReport reason VIRAL_POTENTIAL_MEME", "batched as viral/meme"),
    ("victim_identified", "victim identified in the report", "an identified victim"),
    ("access_to_children", "indicator of access to children", "access to children"),
    ("reported_user_minor", "reported user's age under 18", "the reported user is a minor"),
    ("prior_ct_reports", "personOrUserReported.priorCTReports", "earlier CyberTipline reports"),
]
_FILE = [
    ("files", "", "reported files"),
    ("known_files", "match on a known list", "files matching known material"),
    ("allow_files", "match on an allow list", "files matching allow-listed content"),
    ("unknown_files", "no match on any list", "material on no list"),
    ("new_files", "no match on any list, not viral", "new material (on no list, not viral)"),
    ("self_production_files", "fileAnnotations.possibleSelfProduction", "possible self-production"),
    ("live_streaming_files", "fileAnnotations.liveStreaming", "live streaming"),
    ("infant_files", "fileAnnotations.infant", "an infant"),
    ("physical_harm_files", "fileAnnotations.physicalHarm", "physical harm"),
    ("violence_gore_files", "fileAnnotations.violenceGore", "violence or gore"),
    ("bestiality_files", "fileAnnotations.bestiality", "bestiality"),
    ("sex_act_files", "industryClassification A1 or B1", "a sex act (A1/B1)"),
    ("meme_files", "potentialMeme or fileAnnotations.viral", "annotated as meme or viral"),
    (
        "meme_copy_files",
        "near copy of a file flagged as meme/viral",
        "a direct copy of a file annotated or batched as meme/viral",
    ),
    (
        "spread_files",
        "in many reports with its near copies",
        "the file and its direct copies in viral_min_reports reports or more",
    ),
    ("viral_files", "viral (flagged, a near copy, or spread)", "viral files"),
]
_DERIVED = [
    ("all_allow_listed", "file", "every file on an allow list", "only allow-listed content"),
    ("viral_content", "file", "batched as viral, or every file viral", "only viral content"),
    ("subject_prior_reports", "subject", "earlier reports about the same user", "prior reports"),
    ("subject_reports", "subject", "reports about the same user", "subject size"),
]

FACTS: dict[str, FactSpec] = {
    **{name: FactSpec(name, "report", field, d) for name, field, d in _REPORT},
    **{name: FactSpec(name, "file", field, d) for name, field, d in _FILE},
    **{name: FactSpec(name, scope, f, d) for name, scope, f, d in _DERIVED},  # type: ignore[arg-type]
}

# Facts whose evidence names the subject instead of quoting the count: the count is read from the
# subject's row when shown, so the stored decision does not depend on it (only on the rules fired).
READ_WHEN_SHOWN = frozenset({"subject_reports"})


# The stored stand-in for a subject's report count: opening, the subject id, closing.
SUBJECT_COUNT = ("{subject:", ":reports}")


def subject_reference(subject: int) -> str:
    """The evidence of ``subject_reports`` as stored: the subject's report count by reference."""
    return f"{SUBJECT_COUNT[0]}{subject}{SUBJECT_COUNT[1]} report(s) about the same user"


# File facts counted from one file flag each.
_FILE_FLAG_OF = {
    "known_files": "known",
    "allow_files": "allow",
    "self_production_files": "possible_self_production",
    "live_streaming_files": "live_streaming",
    "infant_files": "infant",
    "physical_harm_files": "physical_harm",
    "violence_gore_files": "violence_gore",
    "bestiality_files": "bestiality",
    "sex_act_files": "sex_act_a1_b1",
}


# File facts whose evidence names the file's content cluster.
SHOWS_CLUSTER = ("meme_copy_files", "spread_files")
# What ``viral_content`` cites per file, in this order (a report batched as viral says so first):
# each viral file by why it is viral.
VIRAL_EVIDENCE = ("meme_files", "meme_copy_files", "spread_files")


def file_fact_masks(
    files: FileTable, batched: np.ndarray, viral: ViralFiles
) -> dict[str, np.ndarray]:
    """For every file-scoped fact, which files carry it (``batched``: the file came in a report
    batched as viral)."""
    masks = {fact: files.flag(flag) for fact, flag in _FILE_FLAG_OF.items()}
    masks["files"] = np.ones(len(files), dtype=np.bool_)
    masks["unknown_files"] = ~(files.flag("known") | files.flag("allow"))
    # New material is what may show new, unidentified victims: a meme or a copy of one, and a
    # file seen with its direct copies in many reports, is on no list yet but widely shared.
    masks["new_files"] = masks["unknown_files"] & ~viral.viral
    masks["meme_files"] = files.flag("potential_meme") | files.flag("viral")
    # Flagged only as a copy: the file's own annotation or batch is evidence of its own.
    masks["meme_copy_files"] = viral.flagged & ~masks["meme_files"] & ~batched
    masks["spread_files"] = viral.spread
    masks["viral_files"] = viral.viral
    return masks


@dataclass(frozen=True)
class ReportFacts:
    """Every fact as a column over reports, plus what is needed to cite evidence per report."""

    values: Mapping[str, IntArray]
    file_masks: Mapping[str, np.ndarray]
    files: FileTable
    file_cluster: IntArray
    report_subject: IntArray

    def __len__(self) -> int:
        return int(next(iter(self.values.values())).shape[0])

    def value(self, name: str) -> IntArray:
        return self.values[name]


def compute_facts(
    reports: ReportTable,
    files: FileTable,
    file_cluster: IntArray,
    viral: ViralFiles,
    report_subject: IntArray,
    earlier: IntArray,
    subject_size: IntArray | None = None,
) -> ReportFacts:
    """All facts of the given reports, vectorised (one bincount per file fact). ``viral``: why
    each of ``files`` is viral; ``earlier``: each report's earlier reports about the same user;
    ``subject_size``: its subject's report count, counted in ``report_subject`` when not given
    (give it when the reports are not all of the subjects' reports)."""
    n = len(reports)
    values: dict[str, IntArray] = {name: reports.signal(name) for name, _, _ in _REPORT}
    batched = reports.signal("batched_meme")[files.report] > 0
    masks = file_fact_masks(files, batched, viral)
    for name, mask in masks.items():
        values[name] = np.bincount(files.report[mask], minlength=n).astype(np.int64)
    files_count = values["files"]
    values["all_allow_listed"] = (
        (files_count > 0) & (values["allow_files"] == files_count)
    ).astype(np.int64)
    every_file_viral = (files_count > 0) & (values["viral_files"] == files_count)
    values["viral_content"] = ((values["batched_meme"] > 0) | every_file_viral).astype(np.int64)
    values["subject_prior_reports"] = earlier.astype(np.int64)
    if subject_size is None:
        _, inverse, counts = np.unique(report_subject, return_inverse=True, return_counts=True)
        subject_size = counts[inverse]
    values["subject_reports"] = np.asarray(subject_size, dtype=np.int64)
    return ReportFacts(values, masks, files, file_cluster, report_subject)


def _file_evidence(facts: ReportFacts, report: int, fact: str, file_rows: IntArray) -> list[str]:
    spec = FACTS[fact]
    mask = facts.file_masks[fact][file_rows]
    found = []
    for row in file_rows[mask]:
        position = int(facts.files.position[row])
        if fact in SHOWS_CLUSTER:
            # The cluster's size is left out: it grows with every sharer, the fact does not.
            found.append(
                f"file {position}: {spec.field} (content cluster {facts.file_cluster[row]})"
            )
        elif spec.field:
            found.append(f"file {position}: {spec.field}")
        else:
            found.append(f"file {position}")
    return found


def evidence(facts: ReportFacts, report: int, fact: str, file_rows: IntArray) -> list[str]:
    """Where ``fact`` shows in report ``report`` (a position in the report table).

    ``file_rows``: the rows of the report's files in the file table.
    """
    value = int(facts.values[fact][report])
    if fact == "all_allow_listed":
        return [f"all {len(file_rows)} files match an allow list"] if value else []
    if fact == "viral_content":
        found = []
        if facts.values["batched_meme"][report]:
            found.append(FACTS["batched_meme"].field)
        for name in VIRAL_EVIDENCE:
            found.extend(_file_evidence(facts, report, name, file_rows))
        return found
    spec = FACTS[fact]
    if spec.scope == "file":
        return _file_evidence(facts, report, fact, file_rows)
    if fact == "subject_prior_reports":
        return [f"{value} earlier report(s) about the same user"] if value else []
    if fact == "subject_reports":
        return [subject_reference(int(facts.report_subject[report]))]
    if fact == "prior_ct_reports":
        return [f"{spec.field}: {value} listed"] if value else []
    return [spec.field] if value else []
