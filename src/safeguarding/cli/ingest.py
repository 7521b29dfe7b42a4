"""``safeguarding ingest``, ``safeguarding hash`` and ``safeguarding quarantine``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from sqlalchemy import func, select

from safeguarding.access import audit
from safeguarding.cli.common import (
    console,
    err_console,
    given_text,
    print_json,
    print_table,
    progress,
    settings,
    shown,
    store,
)
from safeguarding.errors import SafeguardingError
from safeguarding.hashing.files import hash_file
from safeguarding.store.base import ROW_ID_MAX
from safeguarding.store.models import QuarantineRecord
from safeguarding.triage.formats.fields import unstorable
from safeguarding.triage.options import triage_options
from safeguarding.triage.quarantine import open_raw

quarantine_app = typer.Typer(
    help="Input that could not be accepted: list, show, retry.", no_args_is_help=True
)


def ingest(
    paths: list[Path] = typer.Argument(..., help="Files, directories or .zip archives."),
    source: str = typer.Option("default", "--source", help="Name of the channel they came by."),
    media: Path | None = typer.Option(
        None,
        "--media",
        help=(
            "Directory with the reported media, to hash (never stored): "
            "DIR/<report id>/<file id or name>, or DIR/<file id>[.ext]."
        ),
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Ingest provider reports (NCMEC XML, JSON Lines, CSV); match their files against lists.

    Example: safeguarding ingest reports/ --source ncmec --media media/
    """
    if not source.strip() or len(source) > 120:
        raise typer.BadParameter("--source must be 1 to 120 characters")
    if unstorable(source):  # bytes in another encoding than UTF-8 arrive as lone surrogates
        raise typer.BadParameter("--source must be UTF-8 text")
    if media is not None and not media.is_dir():
        raise typer.BadParameter(f"--media {media}: not a directory")
    from safeguarding.triage.context import intake_context  # the intake's parsers: ingest only
    from safeguarding.triage.ingest import ingest as run_ingest

    with store() as opened:
        context = intake_context(opened)
        try:
            with progress() as bar:
                task = bar.add_task("ingest", total=None)
                summary = run_ingest(
                    opened,
                    paths,
                    source=source,
                    writer_factory=lambda run_id, at: context.writer(source, run_id, at, media),
                    matcher=context.matcher,
                    options=context.options,
                    on_document=lambda done, total: bar.update(task, completed=done, total=total),
                    actor=audit.cli_actor(),
                )
        except KeyboardInterrupt:
            # Said here, where what to do next is known: the batches stored so far are kept,
            # and an ingest of the same input stores only the rest.
            err_console.print(
                "ingest interrupted: the reports stored so far are kept; run the same ingest "
                "again to complete it",
                soft_wrap=True,
            )
            raise typer.Exit(130) from None
    data = asdict(summary)
    if json_out:
        print_json(data)
        return
    console.print(
        f"run {summary.run_id} ({summary.source}): {summary.documents} documents; "
        f"reports {summary.reports_stored} stored, {summary.reports_unchanged} unchanged; "
        f"files {summary.files_stored} stored, {summary.files_unchanged} unchanged; "
        f"{summary.matches} matches; {summary.rejected} rejected "
        f"({summary.quarantined} newly quarantined)"
    )
    for rule, count in sorted(summary.rules.items()):
        console.print(f"  rejected {count} × {rule}  (see: safeguarding quarantine list)")
    if summary.skipped:
        console.print(f"  skipped {len(summary.skipped)} file(s) of unknown format")
    if summary.unreadable:
        console.print(f"  skipped {len(summary.unreadable)} path(s) that cannot be read:")
        for line in summary.unreadable:
            console.print(f"    {line}", markup=False, highlight=False)


def hash_command(
    files: list[Path] = typer.Argument(..., help="Media files to hash."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Hash media files: MD5, SHA-1, SHA-256 and, for images, PDQ with its quality.

    The files are read to be hashed, nothing else; unhashable images get a reason.

    Example: safeguarding hash photo.jpg --json
    """
    max_pixels = triage_options(settings()).max_image_pixels
    rows = []
    for path in files:
        if not path.is_file():
            what = "a directory, not a file" if path.is_dir() else "no such file"
            raise SafeguardingError(f"{path}: {what}")
        digest = hash_file(path, max_pixels=max_pixels)
        rows.append({"file": shown(path), **asdict(digest)})
    if json_out:
        print_json(rows)
        return
    print_table(
        None,
        ["file", "size", "md5", "sha256", "pdq", "quality", "unhashable"],
        (
            [r["file"], r["size"], r["md5"], r["sha256"], r["pdq"], r["pdq_quality"],
             r["unhashable_reason"]]
            for r in rows
        ),
    )  # fmt: skip


@quarantine_app.command("list")
def quarantine_list(
    status: str = typer.Option("open", "--status", help="open, resolved or all."),
    rule: str | None = typer.Option(None, "--rule", help="Only this rule."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List quarantined records (never their content).

    Example: safeguarding quarantine list --rule conflicting_duplicate
    """
    if status not in ("open", "resolved", "all"):
        raise typer.BadParameter("--status must be open, resolved or all")
    if rule is not None:
        given_text(rule, "--rule")
    with store(on_outdated="refuse", must_exist=True) as opened, opened.session() as session:
        query = select(QuarantineRecord).order_by(QuarantineRecord.id)
        if status != "all":
            query = query.where(QuarantineRecord.status == status)
        if rule:
            query = query.where(QuarantineRecord.rule == rule)
        rows = [_summary(r) for r in session.scalars(query)]
        by_rule = dict(
            session.execute(
                select(QuarantineRecord.rule, func.count())
                .where(QuarantineRecord.status == "open")
                .group_by(QuarantineRecord.rule)
            ).all()
        )
    if json_out:
        print_json({"records": rows, "open_by_rule": by_rule})
        return
    print_table(
        "quarantine",
        ["id", "status", "kind", "source", "rule", "location"],
        ([r["id"], r["status"], r["kind"], r["source"], r["rule"], r["location"]] for r in rows),
    )


def _summary(record: QuarantineRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "status": record.status,
        "kind": record.kind,
        "source": record.source,
        "format": record.format,
        "source_file": record.source_file,
        "location": record.location,
        "rule": record.rule,
        "error": record.error,
        "provider_report_id": record.provider_report_id,
        "created_at": record.created_at,
        "resolved_at": record.resolved_at,
    }


@quarantine_app.command("show")
def quarantine_show(
    record_id: int = typer.Argument(
        ..., min=1, max=ROW_ID_MAX, metavar="RECORD", help="Quarantine record id."
    ),
    raw: bool = typer.Option(
        False, "--raw", help="Also print the raw input (may hold personal data)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one quarantined record: where it came from, the rule and the error.

    Example: safeguarding quarantine show 3
    """
    from safeguarding.triage.context import intake_context

    with store(on_outdated="refuse", must_exist=True) as opened:
        context = intake_context(opened)
        with opened.session() as session:
            record = session.get(QuarantineRecord, record_id)
            if record is None:
                raise SafeguardingError(
                    f"no quarantine record {record_id}; see: safeguarding quarantine list"
                )
            data = _summary(record)
            if raw:
                data["raw"] = open_raw(context.sealer, record).decode("utf-8", "replace")
            shown = {"raw": "shown" if raw else "not shown"}
            actor = audit.cli_actor()
            audit.record(session, actor, "quarantine.read", "quarantine", str(record_id), shown)
    if json_out:
        print_json(data)
        return
    for key, value in data.items():
        console.print(f"{key}: {value}", highlight=False)


@quarantine_app.command("retry")
def quarantine_retry(
    record_ids: list[int] = typer.Argument(
        None,
        min=1,
        max=ROW_ID_MAX,
        metavar="RECORD...",
        help="Record ids (default: all open reports).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Read quarantined records again and store those that now pass.

    Example: safeguarding quarantine retry 3 4
    """
    from safeguarding.triage.context import intake_context
    from safeguarding.triage.retry import retry as run_retry

    with store(must_exist=True) as opened:
        outcomes = run_retry(intake_context(opened), record_ids or None, audit.cli_actor())
    if json_out:
        print_json([asdict(o) for o in outcomes])
        return
    resolved = sum(o.resolved for o in outcomes)
    console.print(f"{resolved} of {len(outcomes)} record(s) resolved")
    for outcome in outcomes:
        mark = "resolved" if outcome.resolved else "still open"
        console.print(f"  {outcome.record_id}: {mark}: {outcome.message}")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("hash")(hash_command)
    app.add_typer(quarantine_app, name="quarantine")
