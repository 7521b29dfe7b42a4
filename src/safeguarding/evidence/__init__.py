"""The evidence base: published figures with sources and reliability tags, looked up by id."""

from safeguarding.evidence.loader import (
    EvidenceBase,
    EvidenceFigure,
    EvidenceValue,
    load_evidence,
    shipped_evidence,
)

__all__ = ["EvidenceBase", "EvidenceFigure", "EvidenceValue", "load_evidence", "shipped_evidence"]
