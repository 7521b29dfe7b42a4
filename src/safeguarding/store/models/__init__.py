"""All tables of the store. Importing this package registers every model on ``Base.metadata``."""

from safeguarding.store.models.evidence import EvidenceFigureRow
from safeguarding.store.models.triage import (
    FileHash,
    FloodFlag,
    HashList,
    HashListEntry,
    HashMatch,
    IngestRun,
    PartyIdentifier,
    ProviderReport,
    QuarantineRecord,
    ReportedFile,
    ReportInternetDetail,
    ReportParty,
)

__all__ = [
    "EvidenceFigureRow",
    "FileHash",
    "FloodFlag",
    "HashList",
    "HashListEntry",
    "HashMatch",
    "IngestRun",
    "PartyIdentifier",
    "ProviderReport",
    "QuarantineRecord",
    "ReportInternetDetail",
    "ReportParty",
    "ReportedFile",
]
