"""All tables of the store. Importing this package registers every model on ``Base.metadata``."""

from safeguarding.store.models.assess import AssessResultRow
from safeguarding.store.models.evidence import EvidenceFigureRow

__all__ = ["AssessResultRow", "EvidenceFigureRow"]
