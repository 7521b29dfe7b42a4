"""All tables of the store. Importing this package registers every model on ``Base.metadata``."""

from safeguarding.store.models import helpline as helpline
from safeguarding.store.models.evidence import EvidenceFigureRow

__all__ = ["EvidenceFigureRow"]
