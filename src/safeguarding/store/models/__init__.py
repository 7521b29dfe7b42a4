"""All tables of the store. Importing this package registers every model on ``Base.metadata``."""

from safeguarding.store.models.access import (
    ApiTokenRow,
    AuditEventRow,
    AuditHeadRow,
    UserRow,
    WebSessionRow,
)
from safeguarding.store.models.evidence import EvidenceFigureRow

__all__ = [
    "ApiTokenRow",
    "AuditEventRow",
    "AuditHeadRow",
    "EvidenceFigureRow",
    "UserRow",
    "WebSessionRow",
]
