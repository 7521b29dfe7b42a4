"""Copying the evidence base into the store, so the web app and reports read it with the rest."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from safeguarding.evidence.loader import EvidenceBase
from safeguarding.store.models import EvidenceFigureRow


def sync_evidence(session: Session, base: EvidenceBase) -> int:
    """Replace the stored figures by ``base``; returns how many figures are stored."""
    session.execute(delete(EvidenceFigureRow))
    session.add_all(
        EvidenceFigureRow(
            id=figure.id,
            topic=figure.topic,
            statement=figure.statement,
            year_from=figure.years[0] if figure.years else None,
            year_to=figure.years[-1] if figure.years else None,
            source=figure.source,
            url=figure.url,
            tag=figure.tag,
            note=figure.note,
            values=figure.as_dict()["values"],
            data_version=base.version,
        )
        for figure in base
    )
    session.flush()
    return len(base)
