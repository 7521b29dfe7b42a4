"""Entering one contact by hand (the web form or the API), with the importer's rules.

A counsellor's entry goes through the same steps as a file import (``importer.prepare`` and
``importer.store_contacts``): the same schema, the same note scan (refuse, or redact with a
warning), the same encryption of the note and pseudonymisation of the caller's token. What differs
is the import key of an entry without the helpline's own ``contact_id``: a file's rows are keyed by
content and position, but two contacts entered alike are two contacts, so a hand entry is keyed by
the one-time ``entry_key`` of the form it came from. Sending the same form twice (a reload, a
retried request) stores it once.

A key already in the store is compared with what was sent. The same content is ``unchanged`` and
the answer shows the stored contact's coding; other content (a form sent again after an edit, or a
reference that another contact already has) is a ``conflict``: nothing is changed, and the answer
says so rather than confirming values the store does not hold. The answer does not name the
fields that differ nor show the stored ones: counsellors see no contacts but the ones they enter,
and a reference is not proof of that.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeguarding.errors import ValidationError
from safeguarding.helpline.identifiers import IdentifierPolicy
from safeguarding.helpline.importer import (
    ImportOutcome,
    IngestKeys,
    PreparedContact,
    RawRecord,
    RowProblem,
    prepare,
    store_contacts,
)
from safeguarding.helpline.notes import read_note
from safeguarding.helpline.schema import ContactReport
from safeguarding.store.models.helpline import (
    HelplineContactRow,
    HelplineHelpNeedRow,
    HelplineRiskFactorRow,
)

ENTRY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")

EntryStatus = Literal["stored", "unchanged", "conflict", "refused"]


@dataclass(frozen=True)
class EntryOutcome:
    """What became of one entry, with the coding the store holds for it (never what was sent:
    an answer confirms only what is stored).

    ``contact_id`` is the contact stored, found unchanged, or met with other content;
    ``differing`` names the fields of a conflict for the audit trail, not for the answer.
    """

    status: EntryStatus
    contact_id: int | None
    coded: dict[str, object] | None
    note_stored: bool
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    differing: tuple[str, ...] = ()

    @property
    def new(self) -> bool:
        return self.status == "stored"

    @property
    def stored(self) -> bool:
        """Whether the store holds this entry (stored now, or unchanged)."""
        return self.status in ("stored", "unchanged")

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "contact": self.contact_id if self.stored else None,
            "coded": self.coded,
            "note": "stored encrypted" if self.note_stored else "none",
            "problems": [{"field": p.field, "rule": p.rule} for p in self.problems],
            "warnings": [{"field": p.field, "rule": p.rule} for p in self.warnings],
        }


def entry_import_key(keys: IngestKeys, report: ContactReport, entry_key: str) -> str:
    """The import key of a hand entry: the helpline's reference if given, else the form's key."""
    if report.contact_id is not None:
        return keys.import_key(report, 0)
    message = f"helpline-entry\x1f{entry_key}"
    return hmac.new(keys.pseudonym_secret, message.encode(), hashlib.sha256).hexdigest()


def stored_coding(session: Session, row: HelplineContactRow) -> dict[str, object]:
    """The coded fields of a stored contact, spelt as ``ContactReport.coded`` spells them."""
    factors = session.execute(
        select(HelplineRiskFactorRow.factor, HelplineRiskFactorRow.basis)
        .where(HelplineRiskFactorRow.contact_id == row.id)
        .order_by(HelplineRiskFactorRow.factor)
    ).all()
    needs = session.scalars(
        select(HelplineHelpNeedRow.need)
        .where(HelplineHelpNeedRow.contact_id == row.id)
        .order_by(HelplineHelpNeedRow.need)
    ).all()
    return {
        "month": f"{row.year:04d}-{row.month:02d}",
        "channel": row.channel,
        "contact_kind": row.contact_kind,
        "caller_type": row.caller_type,
        "concern": row.concern,
        "age_band": row.age_band,
        "gender": row.gender,
        "risk_factors": (
            [{"factor": factor, "basis": basis} for factor, basis in factors]
            if row.risk_factors_recorded
            else "unknown"
        ),
        "help_needs": list(needs) if row.help_needs_recorded else "unknown",
        "action": row.action,
        "referral": row.referral,
    }


def differing_fields(
    session: Session, keys: IngestKeys, row: HelplineContactRow, report: ContactReport
) -> tuple[str, ...]:
    """The fields of ``report`` whose values the stored contact ``row`` does not hold: its
    coding, reference, caller (as the token's pseudonym) and note (a note past its retention
    reads as none). A sample contact is never the same as an entry."""
    stored = stored_coding(session, row) | {
        "contact_id": row.contact_ref,
        "caller_token": row.caller_key,
        "note": read_note(session, keys.cipher, row.id),
        "synthetic": row.synthetic,
    }
    sent = report.coded() | {
        "contact_id": report.contact_id,
        "caller_token": keys.caller_key(report.caller_token),
        "note": report.note,
        "synthetic": False,
    }
    return tuple(name for name, value in sent.items() if stored[name] != value)


def _conflict(report: ContactReport) -> RowProblem:
    if report.contact_id is not None:
        return RowProblem(
            1,
            1,
            "contact_id",
            "a contact with this reference is stored already, with other values; "
            "nothing was changed",
        )
    return RowProblem(
        1,
        1,
        "entry_key",
        "this form was stored already, with other values; nothing was changed "
        "(open a new form to enter another contact)",
    )


def enter_contact(
    session: Session,
    data: dict[str, Any],
    keys: IngestKeys,
    *,
    entry_key: str,
    policy: IdentifierPolicy = "refuse",
) -> EntryOutcome:
    """Validate and store one contact given as field → value (the importer's spelling)."""
    if not ENTRY_KEY_PATTERN.match(entry_key):
        raise ValidationError(
            "entry_key must be 16-64 letters, digits, '_' or '-' (reload the form)",
            location="entry_key",
            rule="entry key",
        )
    outcome = ImportOutcome(file="entry")
    prepared = prepare([RawRecord(1, 1, data)], keys, policy, outcome)
    if not prepared:
        problems = [
            RowProblem(p.row, p.line, p.field, p.rule.replace("import with --redact", "redact it"))
            for p in outcome.rejected
        ]
        return EntryOutcome("refused", None, None, False, problems, outcome.warnings)
    report = prepared[0].report
    key = entry_import_key(keys, report, entry_key)
    wanted = select(HelplineContactRow).where(HelplineContactRow.import_key == key)
    row = session.scalar(wanted)
    status: EntryStatus = "unchanged"
    if row is None:
        store_contacts(session, [PreparedContact(report, key)], keys)
        row = session.scalars(wanted).one()
        status = "stored"
    else:
        differing = differing_fields(session, keys, row, report)
        if differing:
            return EntryOutcome(
                "conflict", row.id, None, False, [_conflict(report)], outcome.warnings, differing
            )
    coded = stored_coding(session, row)
    return EntryOutcome(status, row.id, coded, report.note is not None, [], outcome.warnings)
