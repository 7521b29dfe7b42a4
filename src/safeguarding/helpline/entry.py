"""Entering one contact by hand (the web form or the API), with the importer's rules.

A counsellor's entry goes through the same steps as a file import (``importer.prepare`` and
``importer.store_contacts``): the same schema, the same note scan (refuse, or redact with a
warning), the same encryption of the note and pseudonymisation of the caller's token. What differs
is the import key of an entry without the helpline's own ``contact_id``: a file's rows are keyed by
content and position, but two contacts entered alike are two contacts, so a hand entry is keyed by
the one-time ``entry_key`` of the form it came from. Sending the same form twice (a reload, a
retried request) stores it once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

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
from safeguarding.helpline.schema import ContactReport
from safeguarding.store.models.helpline import HelplineContactRow

ENTRY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")


@dataclass(frozen=True)
class EntryOutcome:
    """What became of one entry: stored (new or already there) or refused, and the warnings."""

    contact_id: int | None
    new: bool
    report: ContactReport | None
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)

    @property
    def stored(self) -> bool:
        return self.contact_id is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "stored" if self.new else ("unchanged" if self.stored else "refused"),
            "contact": self.contact_id,
            "coded": self.report.coded() if self.report else None,
            "note": "stored encrypted" if self.report and self.report.note else "none",
            "problems": [{"field": p.field, "rule": p.rule} for p in self.problems],
            "warnings": [{"field": p.field, "rule": p.rule} for p in self.warnings],
        }


def entry_import_key(keys: IngestKeys, report: ContactReport, entry_key: str) -> str:
    """The import key of a hand entry: the helpline's reference if given, else the form's key."""
    if report.contact_id is not None:
        return keys.import_key(report, 0)
    message = f"helpline-entry\x1f{entry_key}"
    return hmac.new(keys.pseudonym_secret, message.encode(), hashlib.sha256).hexdigest()


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
        return EntryOutcome(None, False, None, problems, outcome.warnings)
    report = prepared[0].report
    key = entry_import_key(keys, report, entry_key)
    inserted, _ = store_contacts(session, [PreparedContact(report, key)], keys)
    contact_id = session.scalar(
        select(HelplineContactRow.id).where(HelplineContactRow.import_key == key)
    )
    return EntryOutcome(contact_id, inserted == 1, report, [], outcome.warnings)
