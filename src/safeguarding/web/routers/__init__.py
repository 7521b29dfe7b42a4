"""One router per area; each route declares its permission with ``require``."""
