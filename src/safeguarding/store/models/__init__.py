"""All tables of the store. Importing this package registers every model on ``Base.metadata``."""

from safeguarding.store.models.access import (
    ApiTokenRow,
    AuditEventRow,
    AuditHeadRow,
    UserRow,
    WebSessionRow,
)
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
    "ApiTokenRow",
    "AuditEventRow",
    "AuditHeadRow",
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
    "UserRow",
    "WebSessionRow",
]
