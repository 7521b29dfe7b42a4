"""Which reports' decisions a pass can have moved, so only those are scored and fingerprinted
again.

A decision is made from the report's own fields, its files (flags, list matches, positions, viral
status, and for files viral as a copy or by spread the cluster), its subject (size, earlier
reports), its work item and the policy. After an incremental pass (same policy) these can differ
from the last pass only for:

- new reports, and reports with new files;
- reports whose subject is one that new reports joined or that merged (its size and earlier
  reports moved; its reports' subject id may have moved);
- reports with a file whose cluster id moved (a merge) or whose list matches changed;
- reports with a file whose viral status moved: it became a copy of a newly flagged file, or
  viral by spread when a copy of it arrived (a file whose count grew but stayed below
  ``viral_min_reports`` changes no decision: counts are not shown, and its cluster id shows only
  for viral files);
- reports whose work item moved (work items join subjects and direct copies across the whole
  table).

Every other report's fingerprint is the one stored (tested: an unaffected report's fingerprint
computed afresh equals the earlier one).
"""

from __future__ import annotations

import numpy as np

from safeguarding.triage.tables import UNASSIGNED
from safeguarding.triage.unionfind import IntArray, members


def affected_reports(
    previous_file_cluster: IntArray,
    previous_report_subject: IntArray,
    file_cluster: IntArray,
    report_subject: IntArray,
    work_item: IntArray,
    file_report: IntArray,
    changed_files: IntArray,
    previous_work_item: IntArray,
    viral_moved: IntArray,
) -> IntArray:
    """Positions of the reports whose decision may differ from the last pass's.

    ``previous_*``: the last pass's clusters and subjects grown to this pass's tables
    (``UNASSIGNED`` for new files and reports); ``file_cluster``, ``report_subject``,
    ``work_item``: this pass's; ``file_report``: each file's report (position);
    ``changed_files``: earlier files whose list matches changed; ``previous_work_item``: the last
    pass's work item of each of its reports; ``viral_moved``: earlier files (positions) whose
    viral status may have moved."""
    n = previous_report_subject.shape[0]
    new_file = previous_file_cluster == UNASSIGNED
    moved_file = new_file | (previous_file_cluster != file_cluster)
    moved_file[changed_files] = True
    hit = np.zeros(n, dtype=np.bool_)
    hit[file_report[moved_file]] = True
    hit[file_report[viral_moved]] = True
    moved_report = (previous_report_subject == UNASSIGNED) | (
        previous_report_subject != report_subject
    )
    hit |= members(report_subject, report_subject[moved_report])
    n_old = previous_work_item.shape[0]
    hit[:n_old] |= previous_work_item != work_item[:n_old]
    hit[n_old:] = True
    return np.flatnonzero(hit).astype(np.int64)
