"""Errors that reach a user as one clear line.

Every error the system expects (bad input, bad settings, a store that is not ready) is a
``SafeguardingError``; the CLI prints its message alone and exits 1, the web app answers 4xx.
Anything else is a bug and keeps its traceback (shown with ``--debug``).
"""


class SafeguardingError(Exception):
    """An expected failure with a message fit to show a user as it is."""


class ConfigError(SafeguardingError):
    """Settings, data directory or secrets are unusable."""


class StoreError(SafeguardingError):
    """The database cannot be reached, or is not at the schema this code needs."""


class ValidationError(SafeguardingError):
    """Input broke a rule; the message names the file, line or field, and the rule."""

    def __init__(self, message: str, *, location: str = "", rule: str = "") -> None:
        super().__init__(message)
        self.location = location
        self.rule = rule


class NotFoundError(SafeguardingError):
    """The named record does not exist (the web app answers 404)."""
