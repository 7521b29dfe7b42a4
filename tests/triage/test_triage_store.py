"""Triage through the store on ingested NCMEC XML with known ground truth, in two batches."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from safeguarding.store import Store
from safeguarding.store.models import FileCluster, PriorityDecision, ProviderReport, ReportedFile
from safeguarding.triage.context import intake_context
from safeguarding.triage.generate import Corpus, GeneratorConfig, generate
from safeguarding.triage.ingest import ingest
from safeguarding.triage.operations import run_triage
from safeguarding.triage.policy import load_policy


def _ingest(store: Store, corpus: Corpus, reports: range, directory: Path) -> None:
    directory.mkdir()
    for r in reports:
        report = corpus.reports[r]
        (directory / f"r{r}.xml").write_bytes(corpus.report_xml(report))
        for f in report.files:
            (directory / f"f{r}-{f.file_id}.xml").write_bytes(corpus.file_details_xml(report, f))
    context = intake_context(store)
    ingest(
        store, [directory], source="test",
        writer_factory=lambda run_id, at: context.writer("test", run_id, at),
        matcher=context.matcher, options=context.options,
    )  # fmt: skip


def test_second_batch_joins_existing_clusters_and_subjects(store: Store, tmp_path: Path) -> None:
    corpus = generate(GeneratorConfig(seed=4, reports=60, families=12, subjects=15))
    _ingest(store, corpus, range(40), tmp_path / "a")
    first = run_triage(store, load_policy())
    assert first["mode"] == "full" and first["reports"] == 40
    with store.session() as session:
        before = dict(session.execute(select(FileCluster.file_id, FileCluster.cluster_id)).all())
    _ingest(store, corpus, range(40, 60), tmp_path / "b")
    second = run_triage(store, load_policy())
    assert second["mode"] == "incremental" and second["new_reports"] == 20

    family = {f.file_id: f.family for r in corpus.reports for f in r.files}
    subject = {r.report_id: r.subject for r in corpus.reports}
    with store.session() as session:
        files = session.execute(
            select(ReportedFile.id, ReportedFile.provider_file_id, FileCluster.cluster_id).join(
                FileCluster, FileCluster.file_id == ReportedFile.id
            )
        ).all()
        reports = session.execute(
            select(ProviderReport.provider_report_id, PriorityDecision.subject_id).join(
                PriorityDecision, PriorityDecision.report_id == ProviderReport.id
            )
        ).all()
    assert len(files) == sum(len(r.files) for r in corpus.reports)
    clusters_of_family: dict[int, set[int]] = {}
    families_of_cluster: dict[int, set[int]] = {}
    for _id, provider_file_id, cluster in files:
        clusters_of_family.setdefault(family[provider_file_id], set()).add(cluster)
        families_of_cluster.setdefault(cluster, set()).add(family[provider_file_id])
    assert all(len(c) == 1 for c in clusters_of_family.values())
    assert all(len(f) == 1 for f in families_of_cluster.values())
    subjects_of_truth: dict[int, set[int]] = {}
    for provider_report_id, subject_id in reports:
        subjects_of_truth.setdefault(subject[provider_report_id], set()).add(subject_id)
    assert all(len(s) == 1 for s in subjects_of_truth.values())
    assert len({next(iter(s)) for s in subjects_of_truth.values()}) == len(subjects_of_truth)
    # earlier files keep their cluster ids (no merges were needed)
    after = {file_id: cluster for file_id, _p, cluster in files}
    assert all(after[file_id] == cluster for file_id, cluster in before.items())
