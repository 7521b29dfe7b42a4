"""All tables of the store. Importing this package registers every model on ``Base.metadata``.

One import line per area, so that every area's tables are known to Alembic and to the tests that
compare migrations with models.
"""

from safeguarding.store.models import helpline as helpline
from safeguarding.store.models import platforms as platforms
from safeguarding.store.models.evidence import EvidenceFigureRow

__all__ = ["EvidenceFigureRow"]
