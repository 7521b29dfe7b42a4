"""``safeguarding platforms`` and ``safeguarding cases``: the register, risk, gaps and evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from safeguarding.access import audit
from safeguarding.cli.common import (
    console,
    err_console,
    given_text,
    print_json,
    print_table,
    recorded,
    shown,
    store,
)
from safeguarding.errors import SafeguardingError, ValidationError
from safeguarding.platforms.vocabulary import HARM_LABELS, HARMS, ROLE_PAIRS, STAGES
from safeguarding.store import Store

if TYPE_CHECKING:  # the register's parsers and schemas load with the commands that use them
    from safeguarding.platforms.cases import LabelNote
    from safeguarding.platforms.storage import AssessmentRun
    from safeguarding.platforms.workflow import ImportSummary

app = typer.Typer(
    help="The platform register: services, risk per harm and regulatory gaps.",
    no_args_is_help=True,
)
cases_app = typer.Typer(
    help="Coded case evidence: platforms by stage S1–S10.", no_args_is_help=True
)

RULES_OPTION = typer.Option(
    None, "--rules", help="A risk rules file (YAML); default: the rules shipped with the package."
)


def _refused_rows(summary: ImportSummary) -> int:
    """How many rows were refused. A register's rows are told apart by their number, not their
    line: a YAML register written on one line (``services: [{...}, {...}]``) holds several rows
    on it. A case file's record is told by the line it starts on."""
    from safeguarding.platforms.register import RowError

    return len(
        {error.row if isinstance(error, RowError) else error.line for error in summary.refused}
    )


MAX_LABEL_NOTES = 20


def _report_labels(notes: list[LabelNote]) -> None:
    """Say which platform labels are not register ids (the most mentioned first), so that a
    mention the risk cannot count is seen where the file is imported or assessed."""
    for note in notes[:MAX_LABEL_NOTES]:
        err_console.print(f"note: {note}", highlight=False, soft_wrap=True)
    if len(notes) > MAX_LABEL_NOTES:
        err_console.print(
            f"note: and {len(notes) - MAX_LABEL_NOTES} more platform label(s) that are not "
            "register ids",
            highlight=False,
        )


def _report_refused(summary: ImportSummary) -> None:
    for error in summary.refused:
        err_console.print(f"refused {error}", highlight=False, soft_wrap=True)
    if summary.refused:
        rows = _refused_rows(summary)
        raise ValidationError(
            f"{rows} row(s) refused for {len(summary.refused)} problem(s) listed above; "
            "the valid rows were stored",
            rule="rows",
        )


@app.command("import")
def import_services(
    file: Path = typer.Argument(..., help="Register file: .yaml, .yml or .csv."),
) -> None:
    """Import a register of services; bad rows are refused with row and field, the rest kept.

    Example: safeguarding platforms import register.yaml
    """
    from safeguarding.platforms.register import read_register
    from safeguarding.platforms.workflow import import_register

    name = recorded(file, file.name)
    parsed = read_register(file)
    with store() as opened:
        summary = import_register(opened, parsed, name, audit_as=audit.cli_actor())
    console.print(
        f"{file.name}: {summary.new} new, {summary.existing - summary.unchanged} updated, "
        f"{summary.unchanged} unchanged service(s)",
        highlight=False,
    )
    _report_refused(summary)


@app.command("list")
def list_services(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the registered services.

    Example: safeguarding platforms list --json
    """
    from safeguarding.platforms.storage import load_services

    with store(on_outdated="refuse", must_exist=True) as opened, opened.session() as session:
        services = load_services(session)
    if json_out:
        print_json([s.model_dump(mode="json") for s in services])
        return
    print_table(
        f"{len(services)} services",
        ["id", "name", "type", "size", "EU recipients", "age assurance", "features"],
        (
            [
                s.id,
                s.name,
                s.type,
                s.provider_size or "?",
                f"{s.eu_monthly_active_recipients.value:,}"
                if s.eu_monthly_active_recipients
                else "?",
                s.age_assurance,
                len(s.features),
            ]
            for s in services
        ),
    )


def _warn_if_stale(opened: Store, run: AssessmentRun) -> None:
    from safeguarding.platforms.workflow import stale_note

    note = stale_note(opened, run)
    if note:
        err_console.print(
            f"note: {note}; run: safeguarding platforms assess", highlight=False, soft_wrap=True
        )


def _plain(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value) or "-"
    return str(value)


@app.command()
def show(
    service_id: str = typer.Argument(..., help="The service's id."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one service: its facts with their sources, and its latest assessment if any.

    Example: safeguarding platforms show example-chat
    """
    from safeguarding.platforms.risk import service_factors
    from safeguarding.platforms.storage import load_service
    from safeguarding.platforms.workflow import current_run

    given_text(service_id, "SERVICE_ID")
    with store(on_outdated="refuse", must_exist=True) as opened:
        with opened.session() as session:
            service = load_service(session, service_id)
        try:
            run = current_run(opened)
            assessment = next((a for a in run.assessments if a.service_id == service_id), None)
            _warn_if_stale(opened, run)
        except SafeguardingError:
            assessment = None
    if json_out:
        print_json(
            {
                "service": service.model_dump(mode="json"),
                "factors": sorted(service_factors(service)),
                "assessment": assessment.as_dict() if assessment else None,
            }
        )
        return
    data = service.model_dump(mode="json", exclude_none=True)
    for key, value in data.items():
        console.print(f"{key}: {_plain(value)}", highlight=False, soft_wrap=True)
    if assessment is not None:
        print_table(
            f"risk (rules {assessment.rules_version}, score {assessment.score})",
            ["harm", "level", "score", "cases", "drivers"],
            (
                [
                    HARM_LABELS[h.harm],
                    h.level,
                    h.score,
                    h.evidence_cases,
                    "; ".join(f"{d.kind}: {d.text}" for d in h.drivers),
                ]
                for h in assessment.harms
            ),
        )


@app.command()
def assess(
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    rules: Path | None = RULES_OPTION,
) -> None:
    """Assess every service per harm: negligible, low, medium or high, and what drove it.

    Combines the register's risk factors and safeguards with the case evidence under the risk
    rules, and stores the run with the rules' version. Platform labels of the case files that
    are not register ids are listed after the table, with the id each may mean.

    Example: safeguarding platforms assess --rules my-rules.yaml --json
    """
    from safeguarding.platforms.rules import load_rules
    from safeguarding.platforms.workflow import run_assessment

    loaded = load_rules(rules)
    if rules is not None:
        recorded(rules, loaded.file)
    # An assessment is of the stored register: a mistyped data directory got a new, empty store
    # and a run over no services. Refused like the reading commands; an import creates the store.
    with store(must_exist=True) as opened:
        result = run_assessment(opened, loaded, audit_as=audit.cli_actor())
    run_id, assessments = result.run_id, result.assessments
    if json_out:
        print_json(
            {
                "run": run_id,
                "rules_version": loaded.rules.version,
                "rules_file": loaded.file,
                "assessments": [a.as_dict() for a in assessments],
                "platform_labels": [note.as_dict() for note in result.labels],
            }
        )
    else:
        print_table(
            f"run {run_id}: {len(assessments)} services, rules {loaded.rules.version}",
            ["service", "type", *HARMS, "score"],
            ([a.service_id, a.type, *(h.level for h in a.harms), a.score] for a in assessments),
        )
    _report_labels(result.labels)


@app.command()
def gaps(
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    rules: Path | None = RULES_OPTION,
) -> None:
    """Regimes, missing measures, and high-risk services that no regime obliges to act.

    For each service: which regimes apply (DSA tier, Art. 19/28, Ofcom thresholds) and which
    measures its risk calls for but it lacks; then the headline list.

    Example: safeguarding platforms gaps --json
    """
    from safeguarding.platforms.regulation import headline
    from safeguarding.platforms.rules import load_rules
    from safeguarding.platforms.workflow import current_gaps

    loaded = load_rules(rules)
    with store(on_outdated="refuse", must_exist=True) as opened:
        run, reports = current_gaps(opened, loaded)
        _warn_if_stale(opened, run)
    top = headline(reports)
    if json_out:
        print_json(
            {
                "run": run.id,
                "rules_version": run.rules_version,
                "headline": [r.service_id for r in top],
                "services": [r.as_dict() for r in reports],
            }
        )
        return
    print_table(
        f"measures lacking (run {run.id}, rules {run.rules_version})",
        ["service", "DSA tier", "high risk of", "lacks"],
        (
            [
                r.service_id,
                r.dsa_tier,
                ", ".join(r.high_harms) or "-",
                "; ".join(
                    f"{m.label} ({'claimed, unverified; ' if m.claimed else ''}{m.reason})"
                    for m in r.missing
                )
                or "-",
            ]
            for r in reports
            if r.missing or r.high_harms
        ),
    )
    print_table(
        f"headline: {len(top)} high-risk service(s) no regime obliges to act",
        ["service", "type", "DSA tier", "unobliged high risk", "why no duty"],
        (
            [
                r.service_id,
                r.type,
                r.dsa_tier,
                ", ".join(r.unobliged_high_harms),
                r.why_unobliged,
            ]
            for r in top
        ),
    )


@app.command()
def export(
    file: Path = typer.Argument(..., help="Where to write the JSON export."),
) -> None:
    """Write the high-risk services of the latest assessment as JSON for the assessment model.

    Format safeguarding/high-risk-services@1 (docs/formats.md), with each service's volumes.
    Nothing is written when no service is at high risk, or none has a volume or an audience.

    Example: safeguarding platforms export var/high-risk.json
    """
    from safeguarding.platforms.export import high_risk_export
    from safeguarding.platforms.storage import load_services
    from safeguarding.platforms.workflow import current_run

    with store(on_outdated="refuse", must_exist=True) as opened:
        run = current_run(opened)
        _warn_if_stale(opened, run)
        with opened.session() as session:
            services = load_services(session)
    export = high_risk_export(services, run.assessments, run.rules_version)
    document = export.document
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    except OSError as exc:
        raise SafeguardingError(f"{shown(file)}: cannot write ({exc.strerror or exc})") from exc
    console.print(
        f"wrote {len(document['services'])} high-risk service(s) to {shown(file)}", soft_wrap=True
    )
    for service_id, kinds in export.left_out.items():
        err_console.print(
            f"note: {service_id} has no daily {' or '.join(kinds)} and no EU recipients to "
            "estimate them from: the assessment model leaves them out",
            highlight=False,
            soft_wrap=True,
        )


@cases_app.command("import")
def import_cases(
    file: Path = typer.Argument(..., help="Case CSV: case,platform,stage,role_pair,year,source."),
) -> None:
    """Import coded case mentions; case numbers are pseudonymised, re-imports add nothing twice.

    Example: safeguarding cases import cases-2021.csv
    """
    from safeguarding.platforms.workflow import import_cases_text, read_cases_file

    name = recorded(file, file.name)
    text = read_cases_file(file)
    with store() as opened:
        summary = import_cases_text(opened, text, name, audit_as=audit.cli_actor())
    console.print(
        f"{file.name}: {summary.new} new mention(s), {summary.existing} already stored",
        highlight=False,
    )
    _report_labels(summary.labels)
    _report_refused(summary)


@cases_app.command()
def matrix(
    by: str = typer.Option("platform", "--by", help="Rows: platform or type (service type)."),
    role: str | None = typer.Option(
        None, "--role", help="Only mentions of this role pair, e.g. offender-buyer."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The platform × stage matrix of distinct cases, with its denominator, and the yearly trend.

    The denominator is the number of cases with a known platform; cases per million EU
    recipients are shown where the register knows the audience.

    Example: safeguarding cases matrix --by type --json
    """
    from safeguarding.platforms.cases import only_role, stage_matrix, year_trend
    from safeguarding.platforms.register import eu_audiences
    from safeguarding.platforms.storage import load_mention_frame, load_services

    if by not in {"platform", "type"}:
        raise typer.BadParameter("must be platform or type", param_hint="--by")
    if role is not None and role not in ROLE_PAIRS:
        raise typer.BadParameter(f"must be one of {', '.join(ROLE_PAIRS)}", param_hint="--role")
    with store(on_outdated="refuse", must_exist=True) as opened, opened.session() as session:
        mentions = load_mention_frame(session)
        services = load_services(session)
    if role is not None:
        mentions = only_role(mentions, role)
    if by == "type":
        groups: dict[str, str] | None = {s.id: s.type for s in services}
        audience: dict[str, int] = {}
    else:
        groups = None
        audience = eu_audiences(services)
    result = stage_matrix(mentions, groups=groups, audience=audience, by=by)
    trend = year_trend(mentions, groups=groups)
    if json_out:
        print_json({"role_pair": role, "matrix": result.as_dict(), "trend": trend.as_dict()})
        return
    print_table(
        f"distinct cases by {by} and stage{f' ({role})' if role else ''}; denominator: "
        f"{result.denominator} of {result.total_cases} cases have a known platform",
        [by, *STAGES, "cases", "per M recipients"],
        (
            [
                row,
                *(result.counts[row][s] for s in STAGES),
                result.row_totals[row],
                f"{result.per_million[row]:.2f}" if row in result.per_million else "-",
            ]
            for row in result.rows
        ),
    )
    print_table(
        "cases per year (share of that year's cases with a known platform)",
        [by, *(str(y) for y in trend.years)],
        (
            [
                row,
                *(
                    f"{trend.counts[row].get(y, 0)} ({trend.share(row, y):.0%})"
                    for y in trend.years
                ),
            ]
            for row in sorted(trend.counts)
        ),
    )
    console.print(
        "denominators per year: " + ", ".join(f"{y}: {n}" for y, n in trend.denominators.items()),
        highlight=False,
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="platforms")
    root.add_typer(cases_app, name="cases")
