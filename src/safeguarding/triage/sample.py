"""Sample notifications for the demo: synthetic reports and lists, ingested and matched.

Everything is generated from the seed (``triage.generate``) and fictional. Two malformed
documents are included on purpose, so the demo also shows the quarantine at work.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from safeguarding.access import audit
from safeguarding.store import Store
from safeguarding.triage.context import intake_context
from safeguarding.triage.generate import (
    GeneratorConfig,
    ListEntry,
    generate,
    known_list,
    vics_json,
)
from safeguarding.triage.hashlists import import_list
from safeguarding.triage.ingest import ingest
from safeguarding.triage.listformats import read_hash_csv, read_vics

SAMPLE_SOURCE = "sample-ncmec"
# Half the files are their subject's own material, half circulate; most circulating families are
# on the known list, as most reported material is known, the last one allow-listed.
SHARED_FAMILIES = 40
KNOWN_FAMILIES = 30
_BAD_DOCUMENTS = {
    "zz-entity-bomb.xml": '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "a">]><report/>',
    "zz-bad-type.xml": (
        "<report><reportId>bad-1</reportId><incidentSummary><incidentType>Unknown"
        "</incidentType><incidentDateTime>2026-01-01T00:00:00Z</incidentDateTime>"
        "</incidentSummary></report>"
    ),
}


def load_sample(store: Store, seed: int, reports: int = 120) -> str:
    """Import a known list (VICS 2.0) and an allow list (CSV), ingest sample reports."""
    context = intake_context(store)
    config = GeneratorConfig(
        seed=seed, reports=reports, families=SHARED_FAMILIES, subjects=50, own_content_share=0.5
    )
    corpus = generate(config)
    known = vics_json(known_list(corpus, families=KNOWN_FAMILIES, seed=seed, extra=200))
    allow = [ListEntry(md5=None, pdq=corpus.family_pdq[SHARED_FAMILIES - 1], category=0)]
    allow_csv = "hash,type\n" + "".join(f"{e.pdq},PDQ\n" for e in allow)
    flood = context.options.flood_share
    import_list(
        store, context.matcher, context.sealer, read_vics(known, "sample-known.json"),
        name="sample-known", kind="known", source_file="sample-known.json",
        flood_share=flood, actor=audit.cli_actor(),
    )  # fmt: skip
    import_list(
        store, context.matcher, context.sealer,
        read_hash_csv(allow_csv.encode(), "sample-allow.csv"),
        name="sample-allow", kind="allow", source_file="sample-allow.csv",
        flood_share=flood, actor=audit.cli_actor(),
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="safeguarding-sample-") as directory:
        root = Path(directory)
        corpus.write_ncmec(root)
        for name, content in _BAD_DOCUMENTS.items():
            (root / name).write_text(content)
        summary = ingest(
            store,
            [root],
            source=SAMPLE_SOURCE,
            writer_factory=lambda run_id, at: context.writer(SAMPLE_SOURCE, run_id, at),
            matcher=context.matcher,
            options=context.options,
            actor=audit.cli_actor(),
        )
    return (
        f"{summary.reports_stored} synthetic reports, {summary.files_stored} files, "
        f"{summary.matches} matches, {summary.quarantined} quarantined"
    )
