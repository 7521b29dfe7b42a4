"""The steps the CLI, the demo and the report share: import, assess, and read gaps back.

Each step opens its own session, so a failed step leaves the store as it was.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from safeguarding.access import audit
from safeguarding.access.audit import Actor
from safeguarding.disclosure.pseudonymise import Pseudonymiser
from safeguarding.errors import SafeguardingError, ValidationError
from safeguarding.input_files import read_input
from safeguarding.platforms.cases import (
    CASE_COLUMNS,
    CaseRowError,
    LabelNote,
    cases_by_platform_and_harm,
    label_notes,
    parse_cases_csv,
)
from safeguarding.platforms.register import (
    ParsedRegister,
    RowError,
    check_parents,
    read_register,
)
from safeguarding.platforms.regulation import GapReport, gap_reports, headline
from safeguarding.platforms.risk import ServiceAssessment, assess_register, harm_stages
from safeguarding.platforms.rules import LoadedRules, load_rules
from safeguarding.platforms.sample import SAMPLE_REGISTER, generate_cases
from safeguarding.platforms.storage import (
    AssessmentRun,
    changed_since,
    latest_run,
    load_mention_frame,
    load_services,
    platform_label_counts,
    register_ids,
    save_mentions,
    save_run,
    save_services,
    stored_mention,
)
from safeguarding.store import Store


@dataclass(frozen=True)
class ImportSummary:
    """What an import stored and refused; for a case file also its platform labels that are not
    register ids, because their mentions would otherwise fall out of the risk unseen."""

    new: int
    existing: int
    refused: list[RowError] | list[CaseRowError]
    labels: list[LabelNote] = field(default_factory=list)
    unchanged: int = 0


@dataclass(frozen=True)
class AssessmentResult:
    """A stored run, its assessments, and the platform labels of the stored mentions that are
    not register ids (at the time of the run)."""

    run_id: int
    assessments: list[ServiceAssessment]
    labels: list[LabelNote]


def import_register(
    store: Store, parsed: ParsedRegister, file: str, *, audit_as: Actor | None = None
) -> ImportSummary:
    """Store the valid services of a parsed register; the refused rows come back for reporting.

    With ``audit_as`` the import is an audit event in the transaction that stores the rows.
    """
    with store.session() as session:
        parsed = check_parents(parsed, file, register_ids(session))
        new, updated, unchanged = save_services(session, parsed.services, file)
        summary = ImportSummary(new, updated + unchanged, parsed.errors, unchanged=unchanged)
        if audit_as is not None:
            _audit(session, audit_as, "register", file, summary)
    return summary


def _audit(session: Session, actor: Actor, kind: str, file: str, summary: ImportSummary) -> None:
    audit.record(
        session,
        actor,
        f"platforms.import.{kind}",
        "platforms_file",
        file,
        {
            "new": str(summary.new),
            "existing": str(summary.existing),
            "refused": str(len(summary.refused)),
        },
    )


def read_cases_file(path: Path) -> str:
    """The text of a case CSV file, or a clear error naming it."""
    _cases_suffix(path.name, str(path))
    return cases_text(read_input(path), path.name, where=str(path))


def _cases_suffix(name: str, where: str) -> None:
    if Path(name).suffix.lower() != ".csv":
        raise ValidationError(
            f"{where}: case files are CSV with columns {', '.join(CASE_COLUMNS)}",
            location=where,
            rule="format",
        )


def cases_text(data: bytes, name: str, *, where: str | None = None) -> str:
    """The text of a case CSV given as bytes (a file or an upload called ``name``), checked."""
    label = where or name
    _cases_suffix(name, label)
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's export starts with a byte-order mark
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{label}: not UTF-8", location=label, rule="encoding") from exc


def import_cases_text(
    store: Store, text: str, file: str, *, audit_as: Actor | None = None
) -> ImportSummary:
    """Store the valid mentions of a case CSV (case numbers pseudonymised); return the refused.

    With ``audit_as`` the import is an audit event in the transaction that stores the rows.
    """
    good, errors = parse_cases_csv(text, file)
    pseudonymiser = Pseudonymiser(store.secret("pseudonym"))
    mentions = [stored_mention(m, pseudonymiser) for _, m in good]
    counts = Counter(m.platform for _, m in good if m.platform is not None)
    with store.session() as session:
        new, present = save_mentions(session, mentions)
        labels = label_notes(counts, register_ids(session))
        summary = ImportSummary(new, present, errors, labels, unchanged=present)
        if audit_as is not None:
            _audit(session, audit_as, "cases", file, summary)
    return summary


def run_assessment(
    store: Store, loaded: LoadedRules, *, audit_as: Actor | None = None
) -> AssessmentResult:
    """Assess every registered service with its case evidence; store and return the run.

    With ``audit_as`` the run is an audit event (``platforms.assess``: the run, the rules' version,
    digest and file) in the transaction that stores it: a run changes what the pages, the monitor
    and the export say about every service.
    """
    with store.session() as session:
        services = load_services(session)
        if not services:
            raise SafeguardingError(
                "the register is empty; import one first: safeguarding platforms import FILE"
            )
        evidence, denominator = cases_by_platform_and_harm(
            load_mention_frame(session), harm_stages(loaded.rules)
        )
        assessments = assess_register(loaded.rules, services, evidence, denominator)
        run_id = save_run(
            session,
            assessments,
            rules_version=loaded.rules.version,
            rules_digest=loaded.digest,
            rules_file=loaded.file,
        )
        if audit_as is not None:
            audit.record(
                session,
                audit_as,
                "platforms.assess",
                "platforms_run",
                str(run_id),
                {
                    "rules_version": loaded.rules.version,
                    "rules_digest": loaded.digest,
                    "rules_file": loaded.file,
                    "services": str(len(assessments)),
                },
            )
        labels = label_notes(platform_label_counts(session), {s.id for s in services})
    return AssessmentResult(run_id, assessments, labels)


def stale_note(store: Store, run: AssessmentRun) -> str:
    """What changed in the register or the case evidence after ``run`` ("" if nothing): the
    run's levels do not reflect it until the next assessment."""
    with store.session() as session:
        return changed_since(session, run.assessed_at).note(run.id)


def current_run(store: Store) -> AssessmentRun:
    with store.session() as session:
        run = latest_run(session)
    if run is None:
        raise SafeguardingError("no assessment yet; run: safeguarding platforms assess")
    return run


def current_gaps(store: Store, loaded: LoadedRules) -> tuple[AssessmentRun, list[GapReport]]:
    """Gap reports of the latest run; the rules must be those the run used."""
    run = current_run(store)
    if run.rules_digest != loaded.digest:
        raise SafeguardingError(
            f"the latest assessment used other rules ({run.rules_file}, version "
            f"{run.rules_version}); pass the same --rules, or run: safeguarding platforms assess"
        )
    with store.session() as session:
        services = load_services(session)
    return run, gap_reports(loaded.rules, services, run.assessments)


@dataclass(frozen=True)
class RunGaps:
    """The latest run with its gap reports, or with why they cannot be shown (``problem``)."""

    run: AssessmentRun
    gaps: list[GapReport]
    problem: str = ""


def latest_gaps(store: Store) -> RunGaps | None:
    """The latest run (None before any) with its gap reports under the rules file it used.

    The run's assessments are stored whole and always shown as they are; only the gaps need the
    rules (the measures each level calls for), so a rules file changed or gone since the run
    leaves out just the gaps, saying why. The reason names the file, not where the server keeps
    it: researchers read it on the web and in the monitor.
    """
    with store.session() as session:
        run = latest_run(session)
    if run is None:
        return None
    changed = f"rules file changed since run {run.id}"
    path = None if run.rules_file == "shipped" else Path(run.rules_file)
    name = "the shipped rules" if path is None else path.name
    if path is not None and not path.exists():
        return RunGaps(run, [], f"{changed}: {name} is gone")
    try:
        loaded = load_rules(path)
    except ValidationError:
        return RunGaps(run, [], f"{changed}: {name} is no longer a rules file that loads")
    if loaded.digest != run.rules_digest:
        return RunGaps(run, [], f"{changed}: {name} is no longer the file it used")
    with store.session() as session:
        services = load_services(session)
    return RunGaps(run, gap_reports(loaded.rules, services, run.assessments))


def load_sample(store: Store, seed: int) -> str:
    """Demo step: import the fictional register and generated cases, assess, compute gaps."""
    actor = audit.cli_actor()
    summary = import_register(
        store, read_register(SAMPLE_REGISTER), SAMPLE_REGISTER.name, audit_as=actor
    )
    if summary.refused:
        raise SafeguardingError(f"sample register refused: {summary.refused[0]}")
    text = generate_cases(seed)
    cases_file = store.settings.home / "platform-cases.csv"
    cases_file.parent.mkdir(parents=True, exist_ok=True)
    cases_file.write_text(text, encoding="utf-8")
    imported = import_cases_text(store, text, cases_file.name, audit_as=actor)
    loaded = load_rules(None)
    assessments = run_assessment(store, loaded, audit_as=actor).assessments
    _, reports = current_gaps(store, loaded)
    high = sum(1 for a in assessments if a.top_level == "high")
    return (
        f"{summary.new + summary.existing} fictional services, {imported.new} case mentions "
        f"(seed {seed}); rules {loaded.rules.version}: {high} services at high risk, "
        f"{len(headline(reports))} on the headline gap list"
    )
