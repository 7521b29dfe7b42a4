"""Keys and the store: a store refuses a key it was not written with, and never gets a new one
made behind its back.

Keys live in ``<home>/secrets/``, the data in the database; a store restored without its key
files, or opened from another data directory, used to have new keys made for it without a word:
its pseudonyms stopped linking and its sealed records could not be opened.

``store.keys`` is imported inside the tests that need it, after what they check of the commands,
and the fingerprints are read with plain SQL: each test then fails on its own, at the behaviour it
checks, on a version without them.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from safeguarding.errors import ConfigError
from safeguarding.store import Store


def test_a_key_is_looked_up_once_per_store(store: Store) -> None:
    """Only the first asking reads the store and the key file (every web request that seals a
    note asks); after that the store's own copy is used, even if the file goes. Another store
    object (another command) checks afresh."""
    first = store.secret("pseudonym")
    store.settings.secret_file("pseudonym").unlink()
    assert store.secret("pseudonym") == first
    other = Store(replace(store.settings))
    try:
        with pytest.raises(ConfigError, match="no longer holds"):
            other.secret("pseudonym")
    finally:
        other.dispose()
