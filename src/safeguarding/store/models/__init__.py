"""All tables of the store. Importing this package registers every model on ``Base.metadata``.

One import line per area, so that every area's tables are known to Alembic and to the tests that
compare migrations with models.
"""

from safeguarding.store.models import helpline as helpline
from safeguarding.store.models import platforms as platforms
from safeguarding.store.models.access import (
    ApiTokenRow,
    AuditEventRow,
    AuditHeadRow,
    UserRow,
    WebSessionRow,
)
from safeguarding.store.models.assess import AssessResultRow
from safeguarding.store.models.evidence import EvidenceFigureRow
from safeguarding.store.models.keys import KeyFingerprintRow
from safeguarding.store.models.triage import (
    FileHash,
    FloodFlag,
    HashList,
    HashListEntry,
    HashListState,
    HashMatch,
    IngestRun,
    PartyIdentifier,
    ProviderReport,
    QuarantineRecord,
    ReportedFile,
    ReportInternetDetail,
    ReportParty,
)
from safeguarding.store.models.triage_results import (
    ContentCluster,
    FileCluster,
    PriorityDecision,
    RowDeletions,
    Subject,
    TriageInputCache,
    TriageOutcome,
    TriageRun,
)

__all__ = [
    "ApiTokenRow",
    "AssessResultRow",
    "AuditEventRow",
    "AuditHeadRow",
    "ContentCluster",
    "EvidenceFigureRow",
    "FileCluster",
    "FileHash",
    "FloodFlag",
    "HashList",
    "HashListEntry",
    "HashListState",
    "HashMatch",
    "IngestRun",
    "KeyFingerprintRow",
    "PartyIdentifier",
    "PriorityDecision",
    "ProviderReport",
    "QuarantineRecord",
    "ReportInternetDetail",
    "ReportParty",
    "ReportedFile",
    "RowDeletions",
    "Subject",
    "TriageInputCache",
    "TriageOutcome",
    "TriageRun",
    "UserRow",
    "WebSessionRow",
]
