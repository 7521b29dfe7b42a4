"""Helpline pages: the counsellor's entry form, and statistics under disclosure control.

Counsellors (``helpline.entry``) enter contacts and see nothing else: the confirmation shows the
coded fields the store holds for the contact they just entered, never other contacts. Each stored
entry is a change and is audited in the transaction that stores it (the event names the contact,
never the note); so is an entry refused because its key holds other content. Statistics
(``aggregates.read``) are the monitor report's tables and charts: minimum cell size, secondary
suppression, contacts and estimated unique callers labelled apart, Wilson intervals; notes are
never read.
"""

from __future__ import annotations

import secrets
from typing import Any, get_args

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from safeguarding.access import audit
from safeguarding.errors import ValidationError
from safeguarding.helpline.entry import EntryOutcome, EntryStatus, enter_contact
from safeguarding.helpline.identifiers import IdentifierPolicy
from safeguarding.helpline.importer import IngestKeys
from safeguarding.helpline.published import check_published, published_set, published_stats
from safeguarding.helpline.schema import (
    AGE_BAND_LABELS,
    HELP_NEEDS,
    MAX_NOTE_LENGTH,
    RISK_FACTORS,
    Action,
    CallerType,
    Channel,
    Concern,
    ContactKind,
    Gender,
    Referral,
)
from safeguarding.helpline.stats import load_facts, min_cell_setting, parse_by
from safeguarding.input_files import UNREADABLE, RepeatedKeyError, load_json
from safeguarding.reporting.sections.helpline import build as build_section
from safeguarding.store import Store
from safeguarding.web.auth import Principal
from safeguarding.web.roles import require
from safeguarding.web.routers.common import store_of
from safeguarding.web.templating import render

router = APIRouter()
ENTRY = require("helpline.entry")
STATS = [Depends(require("aggregates.read"))]

# The coded single-choice fields of the form, each with its choices ("unknown" among them).
CHOICES: dict[str, tuple[str, ...]] = {
    "channel": get_args(Channel),
    "contact_kind": get_args(ContactKind),
    "caller_type": get_args(CallerType),
    "age_band": tuple(AGE_BAND_LABELS),
    "gender": get_args(Gender),
    "action": get_args(Action),
    "referral": get_args(Referral),
}
CONCERNS = tuple(c for c in get_args(Concern) if c != "not_applicable")
STATUS: dict[EntryStatus, int] = {"stored": 201, "unchanged": 200, "conflict": 409, "refused": 422}
TEXT_FIELDS = ("contact_id", "month", "caller_token", "note")
RECORDED = ("unknown", "recorded")


def _policy(value: object) -> IdentifierPolicy:
    if value in (None, "", "refuse"):
        return "refuse"
    if value == "redact":
        return "redact"
    raise ValidationError(
        "on_identifier must be refuse or redact", location="on_identifier", rule="policy"
    )


def form_data(form: Any) -> dict[str, Any]:
    """The form's fields in the importer's spelling: multi-selects become lists or "unknown"."""
    data: dict[str, Any] = {}
    for name in (*TEXT_FIELDS, *CHOICES, "concern"):
        value = form.get(name)
        if isinstance(value, str):
            data[name] = value
    stated = [v for v in form.getlist("risk_stated") if isinstance(v, str)]
    assessed = [v for v in form.getlist("risk_assessed") if isinstance(v, str)]
    marks = [{"factor": f, "basis": "stated"} for f in stated]
    marks += [{"factor": f, "basis": "assessed"} for f in assessed]
    data["risk_factors"] = marks if marks or form.get("risk_recorded") == "recorded" else "unknown"
    needs = [v for v in form.getlist("help_needs") if isinstance(v, str)]
    data["help_needs"] = needs if needs or form.get("needs_recorded") == "recorded" else "unknown"
    return data


def _enter(
    store: Store,
    principal: Principal,
    data: dict[str, Any],
    entry_key: str,
    policy: IdentifierPolicy,
) -> EntryOutcome:
    """Store one entry with its audit event. Called in the thread pool: while another process
    holds SQLite's write lock the store waits for it (up to the busy timeout), and waiting on
    the event loop held up every other request of the app meanwhile, sign-in included."""
    keys = IngestKeys.from_store(store)
    with store.session() as session:
        outcome = enter_contact(session, data, keys, entry_key=entry_key, policy=policy)
        if outcome.new:
            audit.record(
                session,
                principal.actor(),
                "helpline.contact.add",
                "helpline_contact",
                str(outcome.contact_id),
                {
                    "note": "encrypted" if outcome.note_stored else "none",
                    "redacted": "; ".join(w.rule for w in outcome.warnings) or "none",
                },
            )
        elif outcome.status == "conflict":
            # The refused content is not kept; the trail names the contact it met and the
            # fields that differ (never their values), for whoever sorts out which is right.
            audit.record(
                session,
                principal.actor(),
                "helpline.contact.conflict",
                "helpline_contact",
                str(outcome.contact_id),
                {
                    "matched": outcome.problems[0].field,
                    "differing": ", ".join(outcome.differing),
                },
            )
    return outcome


def _form_context(values: dict[str, Any], entry_key: str) -> dict[str, Any]:
    return {
        "choices": CHOICES,
        "concerns": CONCERNS,
        "age_labels": AGE_BAND_LABELS,
        "risk_factors": RISK_FACTORS,
        "help_needs": HELP_NEEDS,
        "recorded": RECORDED,
        "max_note": MAX_NOTE_LENGTH,
        "values": values,
        "entry_key": entry_key,
    }


@router.get("/helpline/entry", dependencies=[Depends(ENTRY)], include_in_schema=False)
def entry_page(request: Request) -> Response:
    return render(request, "helpline/entry.html", _form_context({}, secrets.token_urlsafe(24)))


@router.post("/helpline/entry", include_in_schema=False)
async def entry_submit(request: Request, principal: Principal = Depends(ENTRY)) -> Response:
    form = await request.form()
    entry_key = str(form.get("entry_key", ""))
    policy = _policy(form.get("on_identifier"))
    data = form_data(form)
    outcome = await run_in_threadpool(_enter, store_of(request), principal, data, entry_key, policy)
    if not outcome.stored:
        # The same key stays on the form: sent again, it meets the stored contact again
        # rather than storing a second one.
        values = dict(data) | {
            "risk_stated": form.getlist("risk_stated"),
            "risk_assessed": form.getlist("risk_assessed"),
            "help_needs": form.getlist("help_needs"),
            "risk_recorded": form.get("risk_recorded"),
            "needs_recorded": form.get("needs_recorded"),
            "on_identifier": policy,
        }
        context = _form_context(values, entry_key) | {"outcome": outcome}
        return render(request, "helpline/entry.html", context, status=STATUS[outcome.status])
    context = _form_context({}, secrets.token_urlsafe(24)) | {"outcome": outcome}
    return render(request, "helpline/entry.html", context)


@router.post(
    "/api/helpline/contacts",
    tags=["helpline"],
    summary="Enter one contact",
    responses={
        201: {"description": "stored"},
        200: {"description": "unchanged: the same content is stored under this key already"},
        409: {"description": "conflict: other content is stored under this key; nothing changed"},
        422: {"description": "refused, with the field and rule of each problem"},
    },
)
async def api_enter(request: Request, principal: Principal = Depends(ENTRY)) -> Response:
    """One contact in the import's JSON spelling, plus ``entry_key`` (16-64 characters, makes a
    retry idempotent) and ``on_identifier`` (``refuse``, the default, or ``redact``) for a note
    holding an email, phone number or IP address. Answers 201 stored, 200 unchanged (with the
    stored coding), 409 when the ``entry_key`` or ``contact_id`` holds other content, or 422
    (also for a body that gives a field twice)."""
    try:
        # The readers' JSON: a key given twice is refused, as the import and the report intake
        # refuse it, where ``json`` would keep the last value and drop the first without a word.
        body = load_json(await request.body())
    except RepeatedKeyError as exc:
        raise ValidationError(
            f"the body must give each field once: {exc}", rule="repeated_key"
        ) from None
    except UNREADABLE:  # not JSON, or a JSON the readers refuse (``input_files``)
        raise ValidationError("the body must be a JSON object", rule="json") from None
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", rule="json")
    entry_key = body.pop("entry_key", None) or secrets.token_urlsafe(24)
    policy = _policy(body.pop("on_identifier", None))
    outcome = await run_in_threadpool(
        _enter, store_of(request), principal, body, str(entry_key), policy
    )
    return JSONResponse(outcome.as_dict(), status_code=STATUS[outcome.status])


@router.get("/helpline/stats", dependencies=STATS, include_in_schema=False)
def stats_page(request: Request) -> Response:
    section = build_section(store_of(request))
    return render(request, "helpline/stats.html", {"section": section})


@router.get("/api/helpline/stats", dependencies=STATS, tags=["helpline"], summary="Statistics")
def api_stats(
    request: Request,
    by: str = Query(
        "year", max_length=100, description="One or two dimensions, e.g. year,age_band"
    ),
) -> dict[str, Any]:
    """Contacts and estimated unique callers by ``by``, and young against older callers of the
    latest year with 95% Wilson intervals: the tables of the statistics page, protected together
    with it (``age_band,year``, its margins ``age_band`` and ``year``, ``month`` of the latest
    year, or one coded dimension). Notes are never read."""
    try:
        dimensions = parse_by(by)
    except ValueError as exc:
        raise ValidationError(str(exc), location="by", rule="dimensions") from None
    check_published(dimensions)
    store = store_of(request)
    min_cell = min_cell_setting(store.settings.section("helpline"))
    with store.session() as session:
        facts = load_facts(session)
    if facts.contacts.height == 0:
        return {"min_cell": min_cell, "data": "recorded contacts", "tables": [],
                "comparisons": [], "unattributed_contacts": 0,
                "caveats": ["no helpline contacts in the store"]}  # fmt: skip
    found = published_set(facts, min_cell)
    return {"min_cell": min_cell, **published_stats(found, dimensions).as_dict()}
