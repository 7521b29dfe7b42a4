"""All tables of the store. Importing this package registers every model on ``Base.metadata``."""

from safeguarding.store.models import platforms as platforms  # (registers the platform tables)
from safeguarding.store.models.evidence import EvidenceFigureRow

__all__ = ["EvidenceFigureRow"]
